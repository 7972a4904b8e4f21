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
 * The command line is parsed as Celery's (src/cli/multi-nodes.ts).
 *
 * start / stop (TERM, or `-SIG`) / stopwait (and wait) / restart (stopwait, then start each node as it
 * goes down) / kill (KILL) / show (each node's command line) / names / get <node> / expand <template>.
 * Differences: the splash names celeriac; colours only on a terminal; the exit status is the command's
 * (`celery multi` always exits 0, even when a node failed to start): 1 when a node FAILED.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { pidAlive } from '../worker/service/pidfile.ts';
import { findSig, MultiNode, NamespacedOptionParser, parseNodes, signalName } from './multi-nodes.ts';

const EX_OK = 0;
const EX_FAILURE = 1;

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
