/**
 * kombu's `matcher.match(data, pattern, matcher)` for node names: `glob` (the default, `fnmatch`: `*`,
 * `?`, `[seq]`, `[!seq]`, whole name) and `pcre` (`re.match`: a Python regular expression anchored at
 * the start only). Remote control addresses nodes by pattern with it, and `Inspect` filters replies.
 */
import { globToRegExp } from '../routing.ts';

export { globToRegExp };

/** Whether `name` matches `pattern` with kombu's `matcher` (`glob` when null). */
export function matchNode(name: string, pattern: string, matcher: string | null = null): boolean {
  const m = matcher ?? 'glob';
  if (m === 'glob') return globToRegExp(pattern).test(name);
  if (m === 'pcre') return new RegExp(`^(?:${pattern})`).test(name);
  throw new TypeError(`No matcher installed for ${m} (glob, pcre)`);
}
