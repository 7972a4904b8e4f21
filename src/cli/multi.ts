/**
 * `celeriac multi`: Celery's `celery multi` (`celery/bin/multi.py` MultiTool, `celery/apps/multi.py`
 * NamespacedOptionParser / MultiParser / Node / Cluster) for TypeScript workers.
 *
 *   celeriac -A ./tasks.ts multi start 3 -c 2 -c:1 4 -Q:2 images --pidfile=/run/celery/%n.pid --logfile=/var/log/celery/%n%I.log
 *   celeriac multi stopwait 3 --pidfile=/run/celery/%n.pid
 *
 * Each node is `celeriac worker --detach -n <name> --pidfile=... --logfile=... --executable=<node>`
 * with the options given to all nodes, overridden per node by `-opt:N value` (N an index from 1, a
 * name, `1-3` with a range, or `1,2`). Names: one number N means celery1..celeryN (`--range-prefix`),
 * else the names given (`name@host` as is; `--hostname`/`-n`, `--prefix`, `--suffix`). Expanded in
 * option values: %n (short name), %N, %h (the whole node name, as in Celery's multi), %d (the host),
 * %p; %i and %I are left for the worker. Defaults as Celery's: `--pidfile=/var/run/celery/%n.pid`,
 * `--logfile=/var/log/celery/%n%I.log` (their directories are created). Long options take their value
 * after `=`, as Celery's parser. The global options (`-A`, `-b`, `--result-backend`, `--config`,
 * `--workdir`) go before `worker` in each node's command line, in Celery's (reversed) order.
 *
 * start / stop (TERM, or `-SIG`) / stopwait (and wait) / restart (stopwait, then start each node as it
 * goes down) / kill (KILL) / show (each node's command line) / names / get <node> / expand <template>.
 * Differences: the splash names celeriac; colours only on a terminal; the exit status is the command's
 * (`celery multi` always exits 0, even when a node failed to start): 1 when a node FAILED.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, normalize, resolve } from 'node:path';
import { constants } from 'node:os';
import { hostFormat } from '../worker/service/nodefmt.ts';
import { pidAlive, Pidfile } from '../worker/service/pidfile.ts';

const EX_OK = 0;
const EX_FAILURE = 1;

/** Celery's NamespacedOptionParser: options, per-node (`-opt:ns`) options, node names, `--` passthrough. */
export class NamespacedOptionParser {
  options = new Map<string, string | null>();
  values: string[] = [];
  passthrough = '';
  namespaces = new Map<string, Map<string, string | null>>();

  constructor(readonly args: string[]) {}

  ns(name: string): Map<string, string | null> {
    let m = this.namespaces.get(name);
    if (!m) this.namespaces.set(name, (m = new Map()));
    return m;
  }

  parse(): this {
    const rargs = this.args.filter(Boolean);
    for (let pos = 0; pos < rargs.length; pos++) {
      const arg = rargs[pos]!;
      if (arg === '--') {
        this.passthrough = rargs.slice(pos).join(' ');
        break;
      } else if (arg[0] === '-') {
        if (arg[1] === '-') {
          const eq = arg.indexOf('=');
          this.add(eq < 0 ? arg.slice(2) : arg.slice(2, eq), eq < 0 ? null : arg.slice(eq + 1), false);
        } else {
          let value: string | null = null;
          const next = rargs[pos + 1];
          if (next !== undefined && next[0] !== '-') {
            value = next;
            pos++;
          }
          this.add(arg.slice(1), value, true);
        }
      } else {
        this.values.push(arg);
      }
    }
    return this;
  }

  private add(name: string, value: string | null, short: boolean): void {
    const prefix = short ? '-' : '--';
    let dest = this.options;
    const colon = name.indexOf(':');
    if (colon >= 0) {
      dest = this.ns(name.slice(colon + 1));
      name = name.slice(0, colon);
    }
    dest.set(prefix + name, value);
  }

  /** `OrderedDict(defaults, **namespace)`: the defaults' order, then the namespace's new options. */
  optmerge(ns: string, defaults: Map<string, string | null>): Map<string, string | null> {
    const out = new Map(defaults);
    for (const [k, v] of this.namespaces.get(ns) ?? []) out.set(k, v);
    return out;
  }
}

/** Options that go before `worker` (Celery's global options). */
const GLOBAL_OPTIONS = ['-A', '--app', '-b', '--broker', '--result-backend', '--loader', '--config', '--workdir', '-C', '--no-color', '-q', '--quiet'];

export function formatOpt(opt: string, value: string | null): string {
  if (!value) return opt;
  return opt.startsWith('--') ? `${opt}=${value}` : `${opt} ${value}`;
}

/** One worker node: its name, options and command line (Celery's `Node`). */
export class MultiNode {
  readonly options: Map<string, string | null>;
  readonly argv: string[];
  private readonly expand: (s: string) => string;

  constructor(readonly name: string, readonly cmd: string, readonly append: string, options: Map<string, string | null>, readonly extraArgs = '') {
    options.set('-n', name);
    setDefaultOpt(options, ['--pidfile', '-p'], '/var/run/celery/%n.pid');
    setDefaultOpt(options, ['--logfile', '-f'], '/var/log/celery/%n%I.log');
    setDefaultOpt(options, ['--executable'], process.execPath);
    this.options = options;
    const at = name.indexOf('@');
    const shortname = name.slice(0, at);
    const host = name.slice(at + 1);
    // Celery's build_expander: %h is the whole node name here, %d the host, %i/%I left for the worker
    this.expand = (s) => nodeFormatWith(s, name, { N: shortname, d: host, h: name, i: '%i', I: '%I' });
    this.argv = this.prepareArgv();
  }

  private prepareArgv(): string[] {
    const cmd = this.expand(this.cmd).split(' ');
    const i = 1; // after the celeriac script (Celery: after `celery` in `-m celery worker`)
    const options = new Map(this.options);
    for (const [opt, value] of this.options) {
      if (GLOBAL_OPTIONS.includes(opt)) {
        cmd.splice(i, 0, formatOpt(opt, value === null ? null : this.expand(value)));
        options.delete(opt);
      }
    }
    const argv = [cmd.join(' '), ...[...options].map(([o, v]) => formatOpt(o, v === null ? null : this.expand(v))), this.extraArgs];
    if (this.append) argv.push(this.expand(this.append));
    return argv;
  }

  getopt(...alt: string[]): string {
    for (const o of alt) {
      const v = this.options.get(o);
      if (v !== undefined && v !== null) return v;
    }
    throw new Error(`no ${alt[0]}`);
  }

  get pidfile(): string {
    return this.expand(this.getopt('--pidfile', '-p'));
  }

  get logfile(): string {
    return this.expand(this.getopt('--logfile', '-f'));
  }

  get executable(): string {
    return this.options.get('--executable') ?? process.execPath;
  }

  /** The pid in the node's pidfile (null: none, or unreadable). */
  get pid(): number | null {
    try {
      return new Pidfile(this.pidfile).readPid();
    } catch {
      return null;
    }
  }

  /** `expand <template>`. */
  expander(template: string): string {
    return this.expand(template);
  }

  /** The command line as arguments (Celery joins and shlex-splits it). */
  spawnArgs(): string[] {
    return this.argv.join(' ').split(/\s+/).filter(Boolean);
  }

  /** Sends a signal; false when the process is gone, null when there is no pid. */
  send(sig: NodeJS.Signals | number): boolean | null {
    const pid = this.pid;
    if (!pid) return null;
    try {
      process.kill(pid, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      return false;
    }
  }

  alive(): boolean {
    const pid = this.pid;
    return pid !== null && pidAlive(pid);
  }
}

function nodeFormatWith(s: string, nodename: string, extra: Record<string, string>): string {
  const at = nodename.indexOf('@');
  const short = at < 0 ? '' : nodename.slice(0, at);
  const host = at < 0 ? nodename : nodename.slice(at + 1);
  return hostFormat(s, host, short || 'celery', { p: nodename, ...extra });
}

/** Celery's `_setdefaultopt`: an alias given wins; else the default (normalised), its directory created. */
function setDefaultOpt(d: Map<string, string | null>, alt: string[], value: string): void {
  for (const opt of alt.slice(1)) if (d.has(opt)) return;
  if (!d.has(alt[0]!)) d.set(alt[0]!, normalize(value));
  const v = d.get(alt[0]!);
  if (v) {
    const dir = dirname(v);
    if (dir) mkdirSync(dir, { recursive: true });
  }
}

/** Celery's `build_nodename`: (namespace, nodename). */
function buildNodename(name: string, prefix: string, suffix: string): [string, string] {
  if (name.includes('@')) {
    const nodename = hostFormat(name);
    return [nodename.slice(0, nodename.indexOf('@')), nodename];
  }
  return [name, hostFormat(`${prefix}${name}@${suffix}`)];
}

/** Celery's `MultiParser.parse`: the nodes of a command line. */
export function parseNodes(p: NamespacedOptionParser, cmd: string): MultiNode[] {
  let names = p.values;
  const options = new Map(p.options);
  const pop = (k: string, dflt: string | null = null) => {
    const v = options.has(k) ? options.get(k)! : dflt;
    options.delete(k);
    return v;
  };
  const ranges = names.length === 1;
  cmd = pop('--cmd', cmd) ?? cmd;
  const append = pop('--append', '') ?? '';
  const dashN = pop('-n', osHostname());
  const hostname = pop('--hostname', dashN) ?? osHostname();
  let prefix = pop('--prefix', '') || '';
  let suffix = pop('--suffix', '') || hostname;
  if (suffix === '""' || suffix === "''") suffix = '';
  const rangePrefix = pop('--range-prefix', '') || 'celery';
  if (ranges && /^-?\d+$/.test(names[0]!.trim())) {
    const n = Number(names[0]);
    names = Array.from({ length: Math.max(0, n) }, (_, k) => String(k + 1));
    prefix = rangePrefix;
  }
  // numbers in -opt:N are indexes into the names (from 1)
  for (const [ns, opts] of [...p.namespaces]) {
    if (/^\d+$/.test(ns)) {
      const idx = Number(ns) - 1;
      if (idx < 0) throw new MultiError(`Indexes start at 1 got: '${ns}'`);
      const target = names[idx];
      if (target === undefined) throw new MultiError(`No node at index '${ns}'`);
      for (const [k, v] of opts) p.ns(target).set(k, v);
    }
  }
  // -opt:1-3 (with a range) and -opt:a,b
  for (const [ns, opts] of [...p.namespaces]) {
    if (ns.includes(',') || (ranges && ns.includes('-'))) {
      for (const space of ns.includes(',') ? ns.split(',') : [ns]) {
        const subs: string[] = [];
        if (ranges && space.includes('-')) {
          const [a, b] = space.split('-').map(Number) as [number, number];
          for (let n = a; n <= b; n++) subs.push(String(n));
        } else subs.push(space);
        for (const sub of subs) for (const [k, v] of opts) p.ns(sub).set(k, v);
      }
      p.namespaces.delete(ns);
    }
  }
  return names.map((name) => {
    const [namespace, nodename] = buildNodename(name, prefix, suffix);
    const ns = p.namespaces.has(nodename) ? nodename : namespace;
    return new MultiNode(nodename, cmd, append, p.optmerge(ns, options), p.passthrough);
  });
}

export class MultiError extends Error {
  override name = 'MultiError';
}

/** Celery's `signals.signum` for `-SIG` arguments: a number or a name (with or without SIG). */
function signum(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const up = name.toUpperCase();
  const key = (up.startsWith('SIG') ? up : `SIG${up}`) as keyof typeof constants.signals;
  return constants.signals[key];
}

/** `_find_sig_argument`: the last `-N` or `-SIGNAME` among the arguments after the names. */
function findSig(p: NamespacedOptionParser, dflt = constants.signals.SIGTERM): number {
  for (const arg of p.args.slice(p.values.length).reverse()) {
    if (arg.length === 2 && arg[0] === '-' && /\d/.test(arg[1]!)) return Number(arg[1]);
    if (arg[0] === '-') {
      const n = signum(arg.slice(1));
      if (n !== undefined) return n;
    }
  }
  return dflt;
}

function signalName(n: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0].replace(/^SIG/, '') : String(n);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const USAGE = `usage: {prog} start <node1 node2 nodeN|range> [worker options]
       {prog} stop <n1 n2 nN|range> [-SIG (default: -TERM)]
       {prog} restart <n1 n2 nN|range> [-SIG] [worker options]
       {prog} kill <n1 n2 nN|range>

       {prog} show <n1 n2 nN|range> [worker options]
       {prog} get hostname <n1 n2 nN|range> [-qv] [worker options]
       {prog} names <n1 n2 nN|range>
       {prog} expand template <n1 n2 nN|range>
       {prog} help

additional options (must appear after command name):

    * --nosplash:   Don't display program info.
    * --quiet:      Don't show as much output.
    * --verbose:    Show more output.
    * --no-color:   Don't display colors.
`;

/** Celery's MultiTool: one `celeriac multi ...` invocation. */
export class MultiTool {
  nosplash = false;
  quiet = false;
  verbose = false;
  noColor = false;
  /** The worker command: `<celeriac script> worker --detach`. */
  cmd: string;

  constructor(readonly version: string, readonly out: (s: string) => void = (s) => process.stdout.write(s), script = resolve(process.argv[1] ?? 'celeriac')) {
    this.cmd = `${script} worker --detach`;
  }

  private color(code: number, s: string): string {
    return this.noColor || !process.stdout.isTTY ? s : `\x1b[1;${code}m${s}\x1b[0m`;
  }
  private say(m: string, newline = true): void {
    this.out(m + (newline ? '\n' : ''));
  }
  private note(m: string, newline = true): void {
    if (!this.quiet) this.say(m, newline);
  }
  private splash(): void {
    if (!this.nosplash) this.note(this.color(36, `celeriac multi v${this.version}`));
  }
  private get OK() {
    return this.color(32, 'OK');
  }
  private get FAILED() {
    return this.color(31, 'FAILED');
  }
  private get DOWN() {
    return this.color(35, 'DOWN');
  }

  private usage(): number {
    this.splash();
    this.say(USAGE.replaceAll('{prog}', 'celeriac multi'));
    return EX_FAILURE;
  }

  /** argv: what follows `multi` (reserved options anywhere). Resolves to the exit status. */
  async execute(argv: string[]): Promise<number> {
    const args = [...argv];
    for (const [opt, set] of [['--nosplash', () => (this.nosplash = true)], ['--quiet', () => (this.quiet = true)], ['-q', () => (this.quiet = true)],
      ['--verbose', () => (this.verbose = true)], ['--no-color', () => (this.noColor = true)]] as const) {
      const i = args.indexOf(opt);
      if (i >= 0) {
        args.splice(i, 1);
        set();
      }
    }
    const command = args[0];
    if (command === undefined || command[0] === '-') return this.usage();
    const rest = args.slice(1);
    switch (command) {
      case 'start': return this.start(rest);
      case 'stop': return this.stop(rest, null);
      case 'stopwait': case 'stop_verify': return this.stop(rest, 2);
      case 'restart': return this.restart(rest);
      case 'kill': return this.kill(rest);
      case 'show': return this.show(rest);
      case 'names': return this.names(rest);
      case 'get': return this.get(rest);
      case 'expand': return this.expandCmd(rest);
      case 'help': this.say(USAGE.replaceAll('{prog}', 'celeriac multi')); return EX_OK;
      default:
        process.stderr.write(`Invalid command: ${command}\n`);
        return this.usage();
    }
  }

  cluster(argv: string[]): { p: NamespacedOptionParser; nodes: MultiNode[] } {
    const p = new NamespacedOptionParser(argv).parse();
    return { p, nodes: parseNodes(p, this.cmd) };
  }

  /** Starts one node (`celeriac worker --detach ...`, which returns once the worker wrote its pidfile). */
  private startNode(node: MultiNode): Promise<number> {
    const args = node.spawnArgs();
    if (this.verbose) this.note(`  ${[node.executable, ...args].join(' ')}`);
    return new Promise((done) => {
      const child = spawn(node.executable, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      child.once('error', (err) => {
        this.note(`* Child failed to start: ${err.message}`);
        done(EX_FAILURE);
      });
      child.once('exit', (code, signal) => {
        if (signal) {
          this.note(`* Child was terminated by signal ${constants.signals[signal]}`);
          return done(constants.signals[signal]);
        }
        if (code) this.note(`* Child terminated with exit code ${code}`);
        done(code ?? EX_FAILURE);
      });
    });
  }

  private async startAndReport(node: MultiNode): Promise<number> {
    const rc = await this.startNode(node);
    this.note(rc ? this.FAILED : this.OK);
    return rc;
  }

  async start(argv: string[]): Promise<number> {
    this.splash();
    const { nodes } = this.cluster(argv);
    this.note('> Starting nodes...');
    const rcs: number[] = [];
    for (const node of nodes) {
      this.note(`\t> ${node.name}: `, false);
      rcs.push(await this.startAndReport(node));
    }
    return rcs.some(Boolean) ? EX_FAILURE : EX_OK;
  }

  /** Celery's `_stop_nodes`: signal every node with a pid; with `retry`, wait for each to go. */
  private async stopNodes(nodes: MultiNode[], sig: number, retry: number | null, onDown: (node: MultiNode) => Promise<void> | void): Promise<void> {
    const running: MultiNode[] = [];
    for (const node of nodes) {
      if (node.pid) running.push(node);
      else await onDown(node);
    }
    if (!running.length) return;
    this.note(this.color(34, '> Stopping nodes...'));
    const waiting = new Set<MultiNode>();
    for (const node of running) {
      this.note(`\t> ${node.name}: ${signalName(sig)} -> ${node.pid}`);
      const pid = node.pid;
      if (!node.send(sig)) {
        this.note(`Could not signal ${node.name} (${pid}): No such process`);
        await onDown(node);
      } else waiting.add(node);
    }
    if (retry === null) return;
    const pids = new Map([...waiting].map((n) => [n, n.pid]));
    const waitingFor = () => {
      if (waiting.size) this.note(this.color(34, `> Waiting for ${waiting.size} ${waiting.size === 1 ? 'node' : 'nodes'} -> ${[...waiting].map((n) => pids.get(n)).join(', ')}...`), false);
    };
    waitingFor();
    let lastDot = Date.now();
    while (waiting.size) {
      for (const node of [...waiting]) {
        const pid = pids.get(node);
        if (!pid || !pidAlive(pid)) {
          this.note(`\n\t> ${node.name}: ${this.OK}`);
          waiting.delete(node);
          await onDown(node);
          waitingFor();
        }
      }
      if (waiting.size) {
        if (Date.now() - lastDot >= retry * 1000) {
          this.note('.', false);
          lastDot = Date.now();
        }
        await sleep(100);
      }
    }
    this.note('');
  }

  async stop(argv: string[], retry: number | null): Promise<number> {
    this.splash();
    const { p, nodes } = this.cluster(argv);
    await this.stopNodes(nodes, findSig(p), retry, (node) => this.note(`> ${node.name}: ${this.DOWN}`));
    return EX_OK;
  }

  async restart(argv: string[]): Promise<number> {
    this.splash();
    const { p, nodes } = this.cluster(argv);
    const rcs: number[] = [];
    await this.stopNodes(nodes, findSig(p), 2, async (node) => {
      this.note(this.color(34, `> Restarting node ${node.name}: `), false);
      rcs.push(await this.startAndReport(node));
    });
    return rcs.some(Boolean) ? EX_FAILURE : EX_OK;
  }

  async kill(argv: string[]): Promise<number> {
    this.splash();
    const { nodes } = this.cluster(argv);
    for (const node of nodes) {
      const pid = node.pid;
      if (!pid) {
        this.note(`> ${node.name}: ${this.DOWN}`);
        continue;
      }
      this.note(`Sending KILL to node ${node.name} (${pid})`);
      if (node.send('SIGKILL') === false) this.note(`Could not signal ${node.name} (${pid}): No such process`);
    }
    return EX_OK;
  }

  show(argv: string[]): number {
    const { nodes } = this.cluster(argv);
    this.say(nodes.map((n) => [n.executable, ...n.argv].join(' ')).join('\n'));
    return EX_OK;
  }

  names(argv: string[]): number {
    this.say(this.cluster(argv).nodes.map((n) => n.name).join('\n'));
    return EX_OK;
  }

  get(argv: string[]): number {
    const [wanted, ...rest] = argv;
    const node = this.cluster(rest).nodes.find((n) => n.name === wanted);
    if (!node) return EX_FAILURE;
    this.say(node.argv.join(' '));
    return EX_OK;
  }

  expandCmd(argv: string[]): number {
    const [template = '', ...rest] = argv;
    this.say(this.cluster(rest).nodes.map((n) => n.expander(template)).join('\n'));
    return EX_OK;
  }
}

/** Global options before `multi` as `--opt=value` (the multi parser reads long options' values only after `=`). */
export function joinGlobalValues(args: string[]): string[] {
  const valued = ['--app', '--broker', '--result-backend', '--config', '--workdir'];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (valued.includes(a) && next !== undefined) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Celery's `multi` command takes its arguments raw (`-c:1 4` is no option commander knows); global
 * options given before `multi` are moved after it, as Celery does.
 */
export function registerMulti(program: Command, version: string): void {
  program
    .command('multi')
    .description('Start, stop and restart several named workers in the background, as celery multi (celeriac multi help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments(true)
    .argument('[args...]')
    .action(async () => {
      const raw = process.argv.slice(2);
      const at = raw.indexOf('multi');
      const args = [...raw.slice(at + 1), ...joinGlobalValues(raw.slice(0, at))];
      try {
        process.exitCode = await new MultiTool(version).execute(args);
      } catch (err) {
        process.stderr.write(`celeriac multi: ${(err as Error).message}\n`);
        process.exitCode = EX_FAILURE;
      }
    });
}
