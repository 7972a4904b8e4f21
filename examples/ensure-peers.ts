/**
 * The set-up `npm run demo` (examples/mixed-fleet.ts) and `npm test` (test/run.mjs) do for themselves
 * on a fresh machine: each step checks first, does only what is missing, and says what it is doing on
 * one line (through the caller's `say`). A step that fails throws a {@link SetupError} whose message
 * is one line: what failed and what to do.
 *
 * - {@link ensurePythonVenv}: real Python Celery in .venv-celery, by `bash .ci/setup-python.sh` (the
 *   one recipe; its `--check` is the quick test).
 * - {@link ensureRedis}: Redis on any local port for the demo: when nothing answers there, a
 *   `redis-server` child (installed by `bash .ci/brokers.sh --install` when missing) that the caller
 *   stops; it is also killed when this process exits.
 * - {@link ensureBrokers}: Redis on 6379 and RabbitMQ on 5672 for the tests, by `bash .ci/brokers.sh`
 *   (daemons that stay up).
 * - {@link ensureBuild}: dist/ (the package's exports) rebuilt when a source is newer than its output.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the scripts run from here whatever the caller's working directory. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VENV = '.venv-celery';

/** A set-up step failed; the message is one line saying what failed and what to do. */
export class SetupError extends Error {
  override name = 'SetupError';
}

/** Prints one progress line (the caller adds its prefix, e.g. `demo: `). */
export type Say = (line: string) => void;

interface Ran {
  command: string;
  code: number | null;
  /** stdout and stderr, interleaved as they came. */
  out: string;
}

/** Writes a failed command's output to a temp file for the user to read; returns its path. */
function keepLog(ran: Ran): string {
  const path = join(tmpdir(), `celeriac-setup-${process.pid}-${Date.now()}.log`);
  writeFileSync(path, `$ ${ran.command}\n${ran.out}`);
  return path;
}

/** Runs a command from the repository root; `onLine` sees each output line as it comes. */
function run(cmd: string, args: string[], onLine?: (line: string) => void): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let partial = '';
    const take = (d: Buffer) => {
      const text = d.toString('utf8');
      out += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      if (onLine) for (const line of lines) onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const finish = (code: number | null) => {
      if (partial && onLine) onLine(partial);
      done({ command: [cmd, ...args].join(' '), code, out });
    };
    child.on('error', (err) => {
      out += `${cmd}: ${err.message}\n`;
      finish(null);
    });
    child.on('close', (code) => finish(code));
  });
}

/** The script's own last line with `prefix` (its explanation of a failure), else the exit status. */
function why(ran: Ran, prefix: string): string {
  const said = ran.out.split('\n').filter((l) => l.trim() && l.startsWith(prefix)).pop();
  if (said) return said.slice(prefix.length);
  return ran.code === null ? ran.out.trim().split('\n').pop() ?? 'could not run' : `exited ${ran.code}`;
}

export interface PythonVenv {
  /** The Python to run Celery with. */
  python: string;
  /** `celery --version`, e.g. `5.6.3 (recovery)`. */
  version: string;
  created: boolean;
}

/**
 * Python Celery for the demo and the tests: CELERIAC_PYTHON when set (then only checked), else
 * .venv-celery, created by .ci/setup-python.sh when it is missing or broken.
 */
export async function ensurePythonVenv(say: Say): Promise<PythonVenv> {
  const custom = process.env.CELERIAC_PYTHON;
  if (custom) {
    const python = resolve(custom);
    if (!existsSync(python)) {
      throw new SetupError(`CELERIAC_PYTHON=${custom} does not exist: point it at a Python that has Celery, or unset it to use ${VENV} (created when missing)`);
    }
    return { python, version: `at ${custom} (CELERIAC_PYTHON)`, created: false };
  }
  const python = join(ROOT, VENV, 'bin/python');
  const check = await run('bash', ['.ci/setup-python.sh', '--check']);
  if (check.code === 0) return { python, version: why(check, 'python celery: ').replace(/ \(cached venv\)$/, ''), created: false };
  if (check.code === null) throw new SetupError(`could not run bash .ci/setup-python.sh (${why(check, '')}): the set-up needs bash`);
  const script = readFileSync(join(ROOT, '.ci/setup-python.sh'), 'utf8');
  const celery = /^CELERY_VERSION=(\S+)/m.exec(script)?.[1] ?? '5';
  say(`creating the Python venv (${VENV}) with Celery ${celery}; this takes about a minute`);
  const made = await run('bash', ['.ci/setup-python.sh']);
  if (made.code !== 0) {
    throw new SetupError(`creating the Python venv failed: ${why(made, 'python celery: ')} (full output: ${keepLog(made)}); fix that, then run again (bash .ci/setup-python.sh repeats only this step)`);
  }
  return { python, version: why(made, 'python celery: '), created: true };
}

/** Something accepts TCP connections on host:port within `timeoutMs`. */
export function reachable(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const end = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => end(false));
    socket.once('connect', () => end(true));
    socket.once('error', () => end(false));
  });
}

const LOCAL_BINDS: Record<string, string[]> = { '127.0.0.1': ['127.0.0.1'], localhost: ['127.0.0.1', '-::1'], '::1': ['::1'] };

export interface DemoRedis {
  /** This process started the server (and {@link stop} stops it). */
  readonly started: boolean;
  /** Stops the server this process started (SIGTERM, SIGKILL after 5 s); nothing when it found one running. */
  stop(): Promise<void>;
}

/**
 * Redis on host:port: when nothing answers there and the host is this machine, starts a `redis-server`
 * child (no persistence, in a temp dir), installing redis-server first when it is missing.
 */
export async function ensureRedis(host: string, port: number, say: Say): Promise<DemoRedis> {
  if (await reachable(host, port)) return { started: false, stop: async () => {} };
  const binds = LOCAL_BINDS[host];
  if (!binds) {
    throw new SetupError(`redis on ${host}:${port} is not reachable, and ${host} is not this machine: start Redis there, or unset DEMO_REDIS_HOST to let the demo start one on 127.0.0.1`);
  }
  say(`redis on ${host}:${port} is down; starting redis-server`);
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    say('redis-server is not installed; installing it with apt-get (bash .ci/brokers.sh --install redis-server)');
    const installed = await run('bash', ['.ci/brokers.sh', '--install', 'redis-server']);
    if (installed.code !== 0) {
      throw new SetupError(`installing redis-server failed: ${why(installed, 'brokers: ')}; or start Redis on ${host}:${port} yourself`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-demo-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', ...binds, '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.on('error', (err) => (log += `redis-server: ${err.message}\n`));
  const killNow = () => child.kill('SIGKILL');
  process.once('exit', killNow);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killNow);
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      say(`stopping the redis-server it started on ${host}:${port}`);
      await stopChild(child, 5000);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + 15_000;
  while (!(await reachable(host, port, 500))) {
    const exited = child.exitCode !== null || child.signalCode !== null || /redis-server: /.test(log);
    if (exited || Date.now() > end) {
      await stop();
      const last = log.trim().split('\n').pop()?.replace(/^\d+:\w \d\d \w+ \d+ [\d:.]+ [#*.-] /, '') ?? '';
      throw new SetupError(`redis-server did not start on ${host}:${port}${last ? ` (${last})` : ''}: free the port or set DEMO_REDIS_PORT`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { started: true, stop };
}

/** SIGTERM, SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Redis (6379) and RabbitMQ (5672) for the tests, by .ci/brokers.sh: one line per broker. */
export async function ensureBrokers(say: Say): Promise<void> {
  const ran = await run('bash', ['.ci/brokers.sh'], (line) => {
    if (line.startsWith('brokers: ')) say(line.slice('brokers: '.length));
  });
  if (ran.code !== 0) {
    throw new SetupError(`setting up the brokers failed: ${why(ran, 'brokers: ')} (full output: ${keepLog(ran)}); start Redis on 127.0.0.1:6379 and RabbitMQ on 127.0.0.1:5672 yourself, or fix that and run again`);
  }
}

/** The TypeScript sources tsconfig.build.json compiles, each with the dist/ file it becomes. */
function buildOutputs(): Array<[source: string, output: string]> {
  let include = ['protocol', 'src'];
  try {
    const conf = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include?: string[] };
    if (conf.include) include = conf.include.map((p) => p.replace(/\/?\*.*$/, '')).filter(Boolean);
  } catch { /* the defaults */ }
  const pairs: Array<[string, string]> = [];
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (/\.[mc]?ts$/.test(path) && !/\.d\.[mc]?ts$/.test(path)) {
      pairs.push([path, join(ROOT, 'dist', relative(ROOT, path)).replace(/ts$/, 'js')]);
    }
  }
  for (const entry of include) visit(join(ROOT, entry));
  return pairs;
}

/** dist/ has an output for every source, none older than the newest source or tsconfig. */
export function distIsCurrent(): boolean {
  const pairs = buildOutputs();
  if (pairs.length === 0) return false;
  let newestSource = 0;
  for (const conf of ['tsconfig.json', 'tsconfig.build.json']) {
    if (existsSync(join(ROOT, conf))) newestSource = Math.max(newestSource, statSync(join(ROOT, conf)).mtimeMs);
  }
  let oldestOutput = Infinity;
  for (const [source, output] of pairs) {
    if (!existsSync(output)) return false;
    newestSource = Math.max(newestSource, statSync(source).mtimeMs);
    oldestOutput = Math.min(oldestOutput, statSync(output).mtimeMs);
  }
  return oldestOutput >= newestSource;
}

/**
 * dist/ for the tests (the package's exports point at it): `npm run build` unless it is current. Type
 * errors do not stop the set-up (tsc writes dist/ anyway; the typecheck reports them); no dist/ does.
 */
export async function ensureBuild(say: Say): Promise<void> {
  if (distIsCurrent()) {
    say('dist/ is up to date');
    return;
  }
  say('building dist/ (npm run build): the package exports point at it');
  const ran = await run('npm', ['run', 'build', '--silent']);
  if (ran.code === 0) return;
  if (distIsCurrent()) {
    say(`npm run build reported errors (full output: ${keepLog(ran)}); dist/ was written anyway; npx tsc -p tsconfig.json --noEmit lists them`);
    return;
  }
  throw new SetupError(`building dist/ failed: npm run build ${why(ran, '')} (full output: ${keepLog(ran)}); fix that and run again`);
}

/** Everything `npm test` needs, in order: Python Celery, the brokers, dist/. */
export async function setUpForTests(say: Say): Promise<void> {
  const venv = await ensurePythonVenv(say);
  say(`python celery ${venv.version}${venv.created ? ' (venv created)' : ''}`);
  await ensureBrokers(say);
  await ensureBuild(say);
}
