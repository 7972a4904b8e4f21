/**
 * kombu's `matcher.match(data, pattern, matcher)` for node names: `glob` (the default, `fnmatch`: `*`,
 * `?`, `[seq]`, `[!seq]`, whole name) and `pcre` (`re.match`: a Python regular expression anchored at
 * the start only). Remote control addresses nodes by pattern with it, and `Inspect` filters replies.
 */

/** `fnmatch.translate`: a glob as a regular expression over the whole name. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) re += '\\[';
      else {
        let body = pattern.slice(i + 1, j).replaceAll('\\', '\\\\');
        if (body.startsWith('!')) body = '^' + body.slice(1);
        else if (body.startsWith('^')) body = '\\' + body;
        re += `[${body}]`;
        i = j;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^(?:${re})$`, 's');
}

/** Whether `name` matches `pattern` with kombu's `matcher` (`glob` when null). */
export function matchNode(name: string, pattern: string, matcher: string | null = null): boolean {
  const m = matcher ?? 'glob';
  if (m === 'glob') return globToRegExp(pattern).test(name);
  if (m === 'pcre') return new RegExp(`^(?:${pattern})`).test(name);
  throw new TypeError(`No matcher installed for ${m} (glob, pcre)`);
}
