/**
 * A command in a pseudo-terminal, its screen read through @xterm/headless: `script` (util-linux) gives
 * the command a pty of `rows` x `cols`; what the command writes goes into a headless xterm of the same
 * size, whose answers (to terminal queries) and the keys a test sends go back to the command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import xterm from '@xterm/headless';

const { Terminal } = xterm as unknown as typeof import('@xterm/headless');
type Term = InstanceType<typeof Terminal>;

/** `'` quoting for sh. */
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface PtyScreen {
  readonly child: ChildProcess;
  readonly term: Term;
  /** The screen's text, one string per row (trailing blanks trimmed). */
  lines(): string[];
  text(): string;
  /** Sends keys as typed. */
  send(keys: string): void;
  /** Resolves once `test` holds for the screen (checked as output arrives and every 50 ms); rejects with the screen after `timeoutMs`. */
  waitFor(what: string, test: (s: PtyScreen) => boolean, timeoutMs?: number): Promise<void>;
  /** The exit status (script -e passes the command's on). */
  exited: Promise<number | null>;
  /** The exit status; rejects with the screen if the command still runs after `timeoutMs`. */
  waitExit(timeoutMs?: number): Promise<number | null>;
  /** Everything the command wrote, raw. */
  raw(): string;
}

export function startInPty(argv: string[], o: { rows: number; cols: number; env: NodeJS.ProcessEnv; cwd?: string }): PtyScreen {
  const term = new Terminal({ cols: o.cols, rows: o.rows, allowProposedApi: true });
  const cmd = `stty rows ${o.rows} cols ${o.cols} && exec ${argv.map(shq).join(' ')}`;
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: o.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let raw = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    raw += d.toString('utf8');
    term.write(d);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  term.onData((d) => {
    if (child.stdin!.writable) child.stdin!.write(d);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () => {
    const b = term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < term.rows; y++) out.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? '');
    return out;
  };
  const screen: PtyScreen = {
    child,
    term,
    lines,
    text: () => lines().join('\n'),
    send: (keys) => void child.stdin!.write(keys),
    raw: () => raw,
    exited,
    waitExit(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms\n${screen.text()}`)), timeoutMs);
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    waitFor(what, test, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const check = () => {
          // let xterm parse what arrived before looking
          term.write('', () => {
            if (test(screen)) return resolve();
            if (Date.now() > end || child.exitCode !== null) {
              return reject(new Error(`the screen never showed ${what} (exit ${child.exitCode})\n${screen.text()}\n--- stderr:\n${stderr}`));
            }
            setTimeout(check, 50);
          });
        };
        check();
      });
    },
  };
  return screen;
}
