/**
 * The README test's pure parts (no I/O), unit-tested on strings in readme.test.ts:
 *
 * - extractSnippets(): every fenced code block of a Markdown text, with the `<!-- snippet: <id> -->`
 *   marker on the line right before it. A shell, TypeScript or JavaScript block (or a block with no
 *   language, which could be either) without a marker, a marker whose id the harness does not know, a
 *   marker on a block of another language, a marker that is not on the line right before a fence, a
 *   duplicate id, and an id the harness knows that the text does not have are all errors: a snippet
 *   cannot slip into the README untested, nor silently out of it. Blocks of other languages (`text`,
 *   `python`, `json`, ...) without a marker are ignored.
 * - promisesOf(): the output lines a snippet promises: `// prints X` (TS/JS) or `# prints X` (shell)
 *   comments. In a promise, `<word>` (angle brackets around text without spaces) stands for any non-empty
 *   text without spaces; everything else is literal. A promised line matches a whole output line (both
 *   trimmed), so `prints 42` is not satisfied by `420`.
 * - findInOrder(): the promised lines appear in the output in the promised order (other lines between
 *   them are fine).
 * - shellScript(): one bash script for a shell block (see its comment).
 */

export type SnippetKind = 'sh' | 'ts' | 'js';

/** Info-string languages that are run; any other language (and a table) is not a snippet. */
const RUNNABLE: Record<string, SnippetKind> = {
  sh: 'sh', bash: 'sh', shell: 'sh', console: 'sh', zsh: 'sh', shellsession: 'sh',
  ts: 'ts', typescript: 'ts', tsx: 'ts', mts: 'ts', cts: 'ts',
  js: 'js', javascript: 'js', jsx: 'js', mjs: 'js', cjs: 'js',
};

export interface Snippet {
  id: string;
  kind: SnippetKind;
  /** The block's language as written (`sh`, `ts`, ...). */
  lang: string;
  /** The block's text, without the fences, ending with a newline. */
  code: string;
  /** 1-based line of the opening fence in the Markdown text. */
  line: number;
  /** `// name.ts` on the first line of a TS/JS block: the file it is written to. */
  fileName?: string;
}

export interface Extraction {
  snippets: Snippet[];
  /** One line per problem, naming the Markdown line; empty when the text is consistent with the harness. */
  errors: string[];
}

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const MARKER_LIKE = /<!--\s*snippet\b/i;
const MARKER = /^\s*<!--\s*snippet:\s*([A-Za-z0-9][\w.-]*)\s*-->\s*$/;
const FILE_NAME = /^\s*\/\/\s*([\w.-]+\.(?:ts|mts|cts|js|mjs|cjs))\s*$/;

/** Every fenced block of `markdown` checked against the ids the harness knows (see the file comment). */
export function extractSnippets(markdown: string, knownIds: readonly string[]): Extraction {
  const lines = markdown.split(/\r?\n/);
  const snippets: Snippet[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  let pendingMarker: { id: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const open = FENCE_OPEN.exec(text);
    const marker = pendingMarker;
    pendingMarker = undefined;
    if (open && !(open[2]![0] === '`' && open[3]!.includes('`'))) {
      const indent = open[1]!.length;
      const fence = open[2]!;
      const lang = open[3]!.trim().split(/\s+/)[0]!.replace(/^\{?\.?/, '').replace(/\}$/, '').toLowerCase();
      const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !close.test(lines[j]!)) {
        body.push(lines[j]!.replace(new RegExp(`^ {0,${indent}}`), ''));
        j++;
      }
      const where = `README line ${i + 1}`;
      if (j >= lines.length) errors.push(`${where}: the fenced block is never closed`);
      const kind = lang === '' ? undefined : RUNNABLE[lang];
      const mayRun = lang === '' || kind !== undefined;
      if (marker === undefined) {
        if (mayRun) {
          errors.push(`${where}: a \`\`\`${lang || '(no language)'} block without a <!-- snippet: <id> --> marker on the line before it ` +
            `(every shell/TS/JS snippet is run by test/readme/readme.test.ts: mark it and teach the harness its id; ` +
            `give output or other text a language such as \`\`\`text)`);
        }
      } else if (kind === undefined) {
        errors.push(`${where}: snippet "${marker.id}" is a \`\`\`${lang || '(no language)'} block; snippets are sh/bash, ts or js blocks`);
      } else if (!knownIds.includes(marker.id)) {
        errors.push(`${where}: snippet id "${marker.id}" is unknown to test/readme/readme.test.ts (known: ${knownIds.join(', ')}): add it to the harness's table so it is run`);
      } else if (seen.has(marker.id)) {
        errors.push(`${where}: snippet id "${marker.id}" is used twice (first at README line ${seen.get(marker.id)})`);
      } else {
        seen.set(marker.id, i + 1);
        const code = body.join('\n') + '\n';
        const snippet: Snippet = { id: marker.id, kind, lang, code, line: i + 1 };
        const name = kind === 'sh' ? undefined : FILE_NAME.exec(body[0] ?? '');
        if (name) snippet.fileName = name[1]!;
        snippets.push(snippet);
      }
      i = j; // past the closing fence (markers and fences inside the block are code)
      continue;
    }
    if (marker !== undefined) {
      errors.push(`README line ${marker.line}: the marker <!-- snippet: ${marker.id} --> is not on the line right before a fenced block`);
    }
    if (MARKER_LIKE.test(text)) {
      const m = MARKER.exec(text);
      if (m) pendingMarker = { id: m[1]!, line: i + 1 };
      else errors.push(`README line ${i + 1}: a malformed snippet marker (write <!-- snippet: <id> --> alone on the line): ${text.trim()}`);
    }
  }
  if (pendingMarker !== undefined) {
    errors.push(`README line ${pendingMarker.line}: the marker <!-- snippet: ${pendingMarker.id} --> is not on the line right before a fenced block`);
  }
  for (const id of knownIds) {
    if (!seen.has(id) && !errors.some((e) => e.includes(`"${id}"`))) {
      errors.push(`the harness knows snippet "${id}" but the README has no such snippet: remove it from test/readme/readme.test.ts's table, or restore the marker`);
    }
  }
  return { snippets, errors };
}

export interface Promised {
  /** 0-based line of the snippet's code that makes the promise. */
  line: number;
  /** What follows `prints`, trimmed. */
  text: string;
}

const TS_PROMISE = /\/\/\s*prints\s+(.+?)\s*$/;
const SH_PROMISE = /(?:^|\s)#\s*prints\s+(.+?)\s*$/;

/** The output a snippet's comments promise, in order. */
export function promisesOf(snippet: Pick<Snippet, 'kind' | 'code'>): Promised[] {
  const re = snippet.kind === 'sh' ? SH_PROMISE : TS_PROMISE;
  const out: Promised[] = [];
  snippet.code.split('\n').forEach((text, line) => {
    const m = re.exec(text);
    if (m) out.push({ line, text: m[1]! });
  });
  return out;
}

/** A promised line as a regular expression over one trimmed output line (`<word>`: any text without spaces). */
export function promiseRegExp(text: string): RegExp {
  const parts = text.split(/(<[^<>\s]+>)/);
  const source = parts
    .map((part, i) => (i % 2 === 1 ? '\\S+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * Checks that `output` has a line matching each of `promised` (literal promises), in that order.
 * Returns undefined when it does, else a message naming the first promise not found after the previous one.
 */
export function findInOrder(output: string, promised: readonly string[]): string | undefined {
  const lines = output.split(/\r?\n/).map((l) => l.trim());
  let at = 0;
  for (const text of promised) {
    const re = promiseRegExp(text);
    let found = -1;
    for (let i = at; i < lines.length; i++) {
      if (re.test(lines[i]!)) {
        found = i;
        break;
      }
    }
    if (found < 0) {
      const earlier = lines.slice(0, at).some((l) => re.test(l));
      return `promised output line "${text}" ${earlier ? 'appears only before the previous promise' : 'not found'} in:\n${output}`;
    }
    at = found + 1;
  }
  return undefined;
}

export interface ShellCommand {
  /** 0-based line of the snippet's code where the command starts. */
  line: number;
  /** The command as written (continuation lines joined with their backslashes). */
  text: string;
  /** Ends in `&` (not `&&`): started in the background. */
  background: boolean;
}

/** The commands of a shell block: one per line (a line ending in `\` continues), blank and comment lines skipped. */
export function shellCommands(code: string): ShellCommand[] {
  const out: ShellCommand[] = [];
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i]!;
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text += '\n' + lines[++i]!;
    if (text.trim() === '' || /^\s*#/.test(text)) continue;
    const background = /(^|[^&])&\s*(#.*)?$/.test(withoutPromise(text));
    out.push({ line: start, text, background });
  }
  return out;
}

/** A command without its trailing `# prints ...` comment. */
function withoutPromise(text: string): string {
  return text.replace(SH_PROMISE, '');
}

/** The line marker shellScript() writes to stdout and stderr before command `n`. */
export const LINE_MARKER = (n: number): string => `@@celeriac-readme-command ${n}@@`;

/**
 * A shell block as one bash script, run in the scratch project: `set -euo pipefail`, so a failing
 * command (or a failing `id=$(...)`) fails the block and assignments carry over from line to line as
 * in the user's shell. Before command n it prints LINE_MARKER(n) on its own line to stdout and stderr,
 * so each command's output can be told apart (splitByCommand) and a `# prints X` checked against the
 * output of its own command. A background command (`cmd &`) gets its output sent to `<logDir>/bg-<n>.log`
 * instead (it would otherwise interleave with later commands' output) and its pid remembered; when the
 * script ends, however it ends, it sends them SIGTERM, waits up to `graceSeconds`, then SIGKILL, and
 * waits for them.
 */
export function shellScript(commands: readonly ShellCommand[], logDir: string, graceSeconds = 10): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const out = [
    'set -euo pipefail',
    '__readme_bg=()',
    '__readme_stop_bg() {',
    '  local status=$?',
    '  if [ ${#__readme_bg[@]} -gt 0 ]; then',
    '    kill -TERM "${__readme_bg[@]}" 2>/dev/null || true',
    `    for _ in $(seq ${graceSeconds * 10}); do`,
    '      local alive=0',
    '      for p in "${__readme_bg[@]}"; do if kill -0 "$p" 2>/dev/null; then alive=1; fi; done',
    '      [ "$alive" = 0 ] && break',
    '      sleep 0.1',
    '    done',
    '    kill -KILL "${__readme_bg[@]}" 2>/dev/null || true',
    '    wait 2>/dev/null || true',
    '  fi',
    '  exit "$status"',
    '}',
    'trap __readme_stop_bg EXIT',
  ];
  commands.forEach((c, n) => {
    out.push(`printf '\\n%s\\n' ${q(LINE_MARKER(n))}; printf '\\n%s\\n' ${q(LINE_MARKER(n))} >&2`);
    if (c.background) {
      const command = withoutPromise(c.text).replace(/&\s*(#.*)?$/, '');
      out.push(`${command} >${q(`${logDir}/bg-${n}.log`)} 2>&1 &`);
      out.push('__readme_bg+=("$!")');
    } else {
      out.push(c.text);
    }
  });
  return out.join('\n') + '\n';
}

/** A shell block's output split by LINE_MARKER: element n is what command n printed (trimmed of the marker's newlines). */
export function splitByCommand(output: string, count: number): string[] {
  const parts: string[] = new Array<string>(count).fill('');
  const re = /\n?@@celeriac-readme-command (\d+)@@\n/g;
  let current = -1;
  let last = 0;
  for (let m = re.exec(output); m; m = re.exec(output)) {
    if (current >= 0) parts[current] += output.slice(last, m.index);
    current = Number(m[1]);
    last = m.index + m[0].length;
  }
  if (current >= 0) parts[current] += output.slice(last);
  return parts;
}

/** The last command that started (the one that failed when the script exits non-zero), or -1. */
export function lastCommandStarted(output: string): number {
  const all = [...output.matchAll(/@@celeriac-readme-command (\d+)@@/g)];
  return all.length === 0 ? -1 : Number(all[all.length - 1]![1]);
}
