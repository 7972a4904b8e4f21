/**
 * What `celeriac inspect`, `control` and `status` share, as `celery/bin/control.py` and
 * `celery/bin/base.py:CLIContext` do it: the remote-control options (`-t/--timeout`,
 * `-d/--destination`, `-j/--json`), the conversion of the words after the command into its arguments
 * (`_compile_arguments`), and the output: one `->  node: OK` line per reply as it arrives with the
 * reply pretty-printed under it (lists as `* item`, dicts as sorted JSON indented by 4, `ok`/`error`
 * replies by their text, anything else as Python prints it), `--json` as kombu's `dumps`, and
 * Celery's errors (`Error: No nodes replied within time constraint`, exit 69).
 */
import type { Command } from 'commander';
import { pyFloatRepr, pyStrRepr } from '../../protocol/repr.ts';
import { pythonJsonStr } from '../../protocol/serialization/pywrite.ts';
import { isPlainObject, PyDateTime } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { Control } from '../control/control.ts';
import { floatJson, PyFloat, type FloatValue } from '../control/float.ts';
import { floatCodec } from '../control/mailbox.ts';
import { commandsOf, type PanelCommand } from '../control/panel.ts';
import { isConnectionError } from '../errors.ts';
import { EX_UNAVAILABLE, EX_USAGE, redactUrls, reportError, UsageError } from './exit.ts';
import { parseSeconds } from './values.ts';

/** The options of the three commands. */
export interface RemoteFlags {
  timeout?: string;
  destination?: string;
  json?: boolean;
}

/** Adds Celery's "Remote Control Options" to a command. */
export function remoteOptions(command: Command): Command {
  return command
    .option('-t, --timeout <seconds>', 'Timeout in seconds waiting for reply.', '1.0')
    .option('-d, --destination <nodes>', 'Comma separated list of destination node names.')
    .option('-j, --json', 'Use json as output format.');
}

/** `--timeout` and `--destination` (split on commas, as Celery's COMMA_SEPARATED_LIST). */
export function remoteSettings(flags: RemoteFlags): { timeout: number; destination: string[] | null } {
  const timeout = parseSeconds('-t/--timeout', flags.timeout ?? '1.0');
  return { timeout, destination: flags.destination === undefined ? null : flags.destination.split(',') };
}

let epipeHandled = false;
/** Output piped into `head` and closed early ends the command quietly (no EPIPE stack). */
export function quietOnClosedStdout(): void {
  if (epipeHandled) return;
  epipeHandled = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/** The app's remote control, reading replies as the CLI prints them (Python floats kept). */
export function cliControl(app: Celery): Control {
  return app.control.withCodec(floatCodec);
}

/** An error Celery's command ends with (`click.ClickException`): `Error: <message>` and its status. */
export class RemoteCommandError extends Error {
  override name = 'RemoteCommandError';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export const noReplies = (): RemoteCommandError => new RemoteCommandError('No nodes replied within time constraint', EX_UNAVAILABLE);

/** `_verify_command_name`. */
export function verifyCommand(type: PanelCommand['type'], name: string): PanelCommand {
  const choices = commandsOf(type);
  const found = choices.find((c) => c.name === name);
  if (!found) {
    throw new RemoteCommandError(`Command ${name} not recognized. Available ${type} commands: ${choices.map((c) => c.name).join(', ')}`, EX_USAGE);
  }
  return found;
}

// ---- arguments --------------------------------------------------------------------------------

const STRTOBOOL: Record<string, boolean> = { false: false, no: false, '0': false, true: true, yes: true, '1': true, on: true, off: false };

/** Python's `int(text)`. */
function toInt(text: string): number | bigint {
  const t = text.trim();
  if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) throw new Error(`invalid literal for int() with base 10: ${pyStrRepr(text)}`);
  const digits = t.replaceAll('_', '');
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : BigInt(digits);
}

/** Python's `float(text)`, kept a float on the wire. */
function toFloat(text: string): PyFloat {
  const t = text.trim().toLowerCase().replaceAll(/(?<=\d)_(?=\d)/g, '');
  const special: Record<string, number> = { inf: Infinity, infinity: Infinity, nan: NaN };
  const sign = t.startsWith('-') ? -1 : 1;
  const bare = t.replace(/^[+-]/, '');
  if (bare in special) return new PyFloat(sign * special[bare]!);
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/.test(t)) throw new Error(`could not convert string to float: ${pyStrRepr(text)}`);
  return new PyFloat(Number(t));
}

function convert(type: string, text: string): FloatValue {
  switch (type) {
    case 'int':
      return toInt(text);
    case 'float':
      return toFloat(text);
    case 'bool': {
      const b = STRTOBOOL[text.toLowerCase()];
      if (b === undefined) throw new Error(`Cannot coerce ${pyStrRepr(text)} to type bool`);
      return b;
    }
    default:
      return text;
  }
}

/**
 * `_compile_arguments(command, args)`: the typed positional arguments in order, the rest as the
 * variadic argument's list. As in Celery, the words left for the variadic one start at the last word
 * looked at (`celery control terminate SIGKILL` sends `task_id: ['SIGKILL']`), and a command without
 * arguments ignores the words given.
 */
export function compileArguments(command: PanelCommand, words: readonly string[]): Record<string, FloatValue> {
  const out: Record<string, FloatValue> = {};
  let rest = [...words];
  if (command.args.length) {
    let i = 0;
    for (i = 0; i < words.length; i++) {
      const spec = command.args[i];
      if (!spec) {
        if (command.variadic) break;
        throw new RemoteCommandError(`Command ${pyStrRepr(command.name)} takes arguments: ${command.signature ?? ''}`, EX_USAGE);
      }
      const [name, type] = spec;
      try {
        out[name] = convert(type, words[i]!);
      } catch (err) {
        throw new UsageError(`${command.name} ${name}: ${(err as Error).message}`);
      }
    }
    rest = words.slice(words.length && i === words.length ? i - 1 : i);
  }
  if (command.variadic) out[command.variadic] = rest;
  return out;
}

// ---- Python's text of a reply -----------------------------------------------------------------

/** Python's `repr()` of a decoded reply value. */
export function pyReprOf(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? String(v) : pyFloatRepr(v);
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (typeof v === 'string') return pyStrRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyReprOf).join(', ')}]`;
  if (v instanceof PyDateTime) return pyStrRepr(v.isoformat);
  if (isPlainObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyStrRepr(k)}: ${pyReprOf(x)}`).join(', ')}}`;
  return pyStrRepr(String(v));
}

/** Python's `str()`: a string as it is, anything else as its repr. */
export function pyStrOf(v: unknown): string {
  return typeof v === 'string' ? v : pyReprOf(v);
}

function jsonScalar(v: unknown): string | undefined {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? String(v) : floatJson(v);
  if (v instanceof PyFloat) return floatJson(v.value);
  if (typeof v === 'string') return pythonJsonStr(v);
  if (v instanceof PyDateTime) return pythonJsonStr(v.isoformat);
  if (v instanceof Date) return pythonJsonStr(v.toISOString());
  if (!Array.isArray(v) && !isPlainObject(v)) return pythonJsonStr(String(v));
  return undefined;
}

/** `json.dumps(v, sort_keys=True, indent=4)` (what `CLIContext.pretty` prints for a dict). */
export function jsonPretty(v: unknown, level = 0): string {
  const s = jsonScalar(v);
  if (s !== undefined) return s;
  const pad = ' '.repeat((level + 1) * 4);
  const end = ' '.repeat(level * 4);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[\n${v.map((x) => pad + jsonPretty(x, level + 1)).join(',\n')}\n${end}]`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  if (!keys.length) return '{}';
  return `{\n${keys.map((k) => `${pad}${pythonJsonStr(k)}: ${jsonPretty(o[k], level + 1)}`).join(',\n')}\n${end}}`;
}

/** kombu's `dumps(v)` (`json.dumps` with its default separators, keys in their order): the `--json` output. */
export function jsonDumps(v: unknown): string {
  const s = jsonScalar(v);
  if (s !== undefined) return s;
  if (Array.isArray(v)) return `[${v.map(jsonDumps).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pythonJsonStr(k)}: ${jsonDumps(x)}`).join(', ')}}`;
}

/** `celery.utils.text.indent`. */
export function indent(text: string, n: number): string {
  return text.split('\n').map((line) => ' '.repeat(n) + line).join('\n');
}

/** `text.pluralize`. */
export function pluralize(n: number, word: string): string {
  return n !== 1 ? `${word}s` : word;
}

/** Terminal styles (`click.style`), only on a terminal and without NO_COLOR, as click strips them elsewhere. */
export interface Style {
  (text: string, fg: 'cyan' | 'green' | 'red' | 'white', bold?: boolean): string;
}
const FG = { red: 31, green: 32, cyan: 36, white: 37 } as const;
export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR;
  return (text, fg, bold = false) => (on ? `\x1b[${FG[fg]}m${bold ? '\x1b[1m' : ''}${text}\x1b[0m` : text);
}

/** `CLIContext.pretty(n)`: the status word and the text of a reply. */
export function pretty(n: unknown, style: Style): [string, string] {
  const OK = style('OK', 'green', true);
  if (Array.isArray(n)) return [OK, n.length ? n.map((item) => `${style('*', 'white')} ${pyStrOf(item)}`).join('\n') : '- empty -'];
  if (isPlainObject(n)) {
    if ('ok' in n) return [OK, indent(pretty(n.ok, style)[1], 4)];
    if ('error' in n) return [style('ERROR', 'red', true), indent(pretty(n.error, style)[1], 4)];
    return [OK, jsonPretty(n)];
  }
  if (typeof n === 'string') return [OK, n];
  return [OK, pyReprOf(n)];
}

/**
 * `_say_remote_command_reply`: `->  node: STATUS` (`-q` drops the arrow) and, with `showReply`, the
 * reply's text indented by 4, for the first node of a reply.
 */
export function replyText(reply: Record<string, unknown>, o: { showReply: boolean; quiet: boolean; style: Style }): string {
  const node = Object.keys(reply)[0];
  if (node === undefined) return '';
  const [status, text] = pretty(reply[node], o.style);
  const arrow = o.quiet ? '' : `${o.style('->', 'white', true)} `;
  let out = `${arrow} ${o.style(`${node}: `, 'cyan', true)}${status}\n`;
  const body = o.showReply ? indent(text, 4) : '';
  if (body && o.showReply) out += body + '\n';
  return out;
}

/** `N nodes online.` after a blank line. */
export function nodesOnline(n: number): string {
  return `\n${n} ${pluralize(n, 'node')} online.\n`;
}

// ---- --list ---------------------------------------------------------------------------------------

/** Python's textwrap (break on spaces and after hyphens inside words), as click's `wrap_text`. */
function wrap(text: string, width: number): string[] {
  const chunks = text.split(/(\s+)/).flatMap((w) => (/\s/.test(w) ? [' '] : w.split(/(?<=[A-Za-z]-)(?=[A-Za-z])/))).filter((c) => c !== '');
  const lines: string[] = [];
  let line = '';
  for (const c of chunks) {
    if (c === ' ') {
      if (line) line += ' ';
      continue;
    }
    if (line && (line + c).length > width) {
      lines.push(line.trimEnd());
      line = c;
    } else line += c;
  }
  if (line.trim()) lines.push(line.trimEnd());
  return lines;
}

/** `--list`: click's help formatter output of `<Type> Commands:` (80 columns). */
export function listCommands(type: PanelCommand['type']): string {
  const rows = commandsOf(type).map((c) => [c.signature ? `${c.name} ${c.signature}` : c.name, c.help] as const);
  const firstCol = Math.min(Math.max(...rows.map(([t]) => t.length)), 30) + 2;
  const textWidth = Math.max(78 - firstCol - 2, 10);
  let out = `${type[0]!.toUpperCase()}${type.slice(1)} Commands:\n`;
  for (const [term, help] of rows) {
    out += `  ${term}`;
    if (term.length <= firstCol - 2) out += ' '.repeat(firstCol - term.length);
    else out += `\n${' '.repeat(firstCol + 2)}`;
    const lines = wrap(help, textWidth);
    out += (lines[0] ?? '') + '\n';
    for (const l of lines.slice(1)) out += `${' '.repeat(firstCol + 2)}${l}\n`;
  }
  return out;
}

// ---- errors -------------------------------------------------------------------------------------

/**
 * Ends a remote-control command on an error as Celery's do: `Error: <message>` with the error's
 * status; a broker that cannot be reached is Celery's `Could not connect to the message broker...`
 * (69). Other errors are reported as every celeriac command reports them.
 */
export function reportRemoteError(command: string, err: unknown, traceback: boolean): number {
  if (err instanceof RemoteCommandError) {
    process.stderr.write(`Error: ${err.message}\n`);
    return err.exitCode;
  }
  if (isConnectionError(err)) {
    process.stderr.write(
      'Error: Could not connect to the message broker. Please make sure your broker (e.g., RabbitMQ or Redis) is running and ' +
        `the connection settings are correct. Reason: ${redactUrls((err as Error).message)}\n`,
    );
    if (traceback) process.stderr.write(`${redactUrls((err as Error).stack ?? '')}\n`);
    return EX_UNAVAILABLE;
  }
  return reportError(command, err, { traceback });
}
