/**
 * The nodes of a `celeriac multi` command line, as Celery's `celery/apps/multi.py`
 * (NamespacedOptionParser, MultiParser, Node, build_nodename, build_expander) and the `-SIG` argument
 * of `celery/bin/multi.py`: options for every node, `-opt:N value` per node (an index from 1, a name,
 * `1-3` with a range, `a,b`), long options' values only after `=`, names from a number (celery1..N) or
 * as given, and each node's command line (`celeriac [globals] worker --detach ... -n name --pidfile=...
 * --logfile=... --executable=node`) with Celery's option order. src/cli/multi.ts runs them.
 */
import { mkdirSync } from 'node:fs';
import { hostname as osHostname, constants } from 'node:os';
import { dirname, normalize } from 'node:path';
import { hostFormat } from '../worker/service/nodefmt.ts';
import { pidAlive, Pidfile } from '../worker/service/pidfile.ts';

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
export function findSig(p: NamespacedOptionParser, dflt = constants.signals.SIGTERM): number {
  for (const arg of p.args.slice(p.values.length).reverse()) {
    if (arg.length === 2 && arg[0] === '-' && /\d/.test(arg[1]!)) return Number(arg[1]);
    if (arg[0] === '-') {
      const n = signum(arg.slice(1));
      if (n !== undefined) return n;
    }
  }
  return dflt;
}

export function signalName(n: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0].replace(/^SIG/, '') : String(n);
}

