/**
 * A harness for the beat's high-availability guarantees with real processes: a private, persistent
 * `redis-server` (AOF, `appendfsync always`, its own dir, restartable on the same port and dir), an
 * app module with `beat_schedule` of K entries every second sending `ha.tick` to one queue, and any
 * number of `celeriac beat -S redis` (and Python RedBeat) processes on it, each with its output
 * captured line by line with the time each line arrived.
 *
 * Every message says who sent it and when: the app module wraps `app.sendTask` (the Python app hooks
 * `before_task_publish`) to add the headers `ha_beat` (the process's name) and `ha_sent_at` (epoch
 * seconds when the send began). The queue is a Redis list nobody consumes, read incrementally every
 * 100 ms (LPUSH puts new messages at the head), so nothing depends on logs or on polling precision.
 *
 * {@link analyse} turns the messages and the faults into a report: per entry the sends in order;
 * same-id duplicates (a resend after a crash: allowed, counted), doubles (two different task ids for
 * one entry less than 0.5 s apart: a double fire), misses (a gap longer than the interval plus a
 * tolerance with no fault in it), takeover times (from a fault to the first send by another beat),
 * and sends by a beat after it was killed or stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { portOpen, REDIS_SERVER, startRedis, type PrivateRedis } from './private-redis.ts';
import { PYTHON, redbeatPath } from './peers.ts';

export const BIN = resolve('bin/celeriac.js');
export const REDBEAT_PATH = redbeatPath();
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Redis: persistent, restartable on the same port and dir

export interface HaRedis {
  readonly port: number;
  readonly dir: string;
  url(db?: number): string;
  /** Everything the server(s) logged. */
  log(): string;
  /** SIGKILL (AOF with fsync always: nothing acknowledged is lost), wait `downMs`, start again on the same port and dir. */
  restart(downMs?: number): Promise<{ killedAt: number; upAt: number }>;
  stop(): Promise<void>;
}

const REDIS_PERSIST = ['--appendonly', 'yes', '--appendfsync', 'always'];

export async function startHaRedis(): Promise<HaRedis> {
  const first: PrivateRedis = await startRedis({ args: REDIS_PERSIST, prefix: 'beat-ha' });
  const { port, dir } = first;
  let current: ChildProcess = first.process;
  let log = '';
  const collect = (child: ChildProcess) => {
    child.stdout?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
  };
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    dir,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    log: () => first.log() + log,
    async restart(downMs = 1500) {
      await kill(current);
      const killedAt = Date.now();
      await sleep(downMs);
      for (let attempt = 0; ; attempt++) {
        const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', ...REDIS_PERSIST, '--port', String(port)];
        const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        let own = '';
        child.stdout!.on('data', (d: Buffer) => (own += d.toString('utf8')));
        collect(child);
        const end = Date.now() + 15_000;
        while (!(/Ready to accept connections/.test(own) && (await portOpen(port)))) {
          if (child.exitCode !== null || Date.now() > end) break;
          await sleep(20);
        }
        if (/Ready to accept connections/.test(own) && child.exitCode === null) {
          current = child;
          return { killedAt, upAt: Date.now() };
        }
        await kill(child);
        if (attempt >= 3) throw new Error(`redis-server did not restart on ${port}:\n${own}`);
        await sleep(300);
      }
    },
    async stop() {
      await kill(current);
      await first.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// the app modules

export interface HaEntries {
  /** Entry names, `ha-0` .. `ha-<K-1>`. */
  names: string[];
  queue: string;
  interval: number;
}

/** A temp dir inside the repository's tmp/, so `import 'celeriac'` resolves to this package. */
export function haDir(what: string): { dir: string; remove(): void } {
  const dir = resolve('tmp', `${what}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function haEntries(k: number, queue: string, interval = 1): HaEntries {
  return { names: Array.from({ length: k }, (_, i) => `ha-${i}`), queue, interval };
}

function scheduleOf(e: HaEntries): Record<string, unknown> {
  // the entry's name as its argument: RedBeat's messages carry no periodic_task_name
  return Object.fromEntries(e.names.map((n) => [n, { task: 'ha.tick', schedule: e.interval, args: [n], options: { queue: e.queue } }]));
}

/** The celeriac app module (`<dir>/ha_app.mjs`); returns its path. */
export function writeCeleriacApp(dir: string, brokerUrl: string, entries: HaEntries): string {
  const path = join(dir, 'ha_app.mjs');
  writeFileSync(path, `import { createApp } from 'celeriac';
export const app = createApp({
  broker_url: ${JSON.stringify(brokerUrl)},
  beat_schedule: ${JSON.stringify(scheduleOf(entries))},
});
// every message says which beat sent it and when the send began
const send = app.sendTask.bind(app);
const who = process.env.HA_BEAT ?? 'celeriac';
app.sendTask = (name, args, kwargs, options = {}) =>
  send(name, args, kwargs, { ...options, headers: { ...(options.headers ?? {}), ha_beat: who, ha_sent_at: Date.now() / 1000 } });
`);
  return path;
}

/** The Python app module for RedBeat (`<dir>/<module>.py`); `entries` null: an empty `beat_schedule`. */
export function writePythonApp(dir: string, brokerUrl: string, entries: HaEntries | null, lockTimeout: number, module = 'ha_pyapp'): string {
  const path = join(dir, `${module}.py`);
  const schedule = entries ? scheduleOf(entries) : {};
  writeFileSync(path, `import json, os, time
from celery import Celery
from celery.signals import before_task_publish

app = Celery(${JSON.stringify(module)}, broker=${JSON.stringify(brokerUrl)})
app.conf.update(
    redbeat_redis_url=${JSON.stringify(brokerUrl)},
    redbeat_lock_timeout=${lockTimeout},
    beat_max_loop_interval=1,
    timezone='UTC',
    beat_schedule=json.loads(${JSON.stringify(JSON.stringify(schedule))}),
)

@before_task_publish.connect
def _stamp(headers=None, **kwargs):
    headers['ha_beat'] = os.environ.get('HA_BEAT', 'python')
    headers['ha_sent_at'] = time.time()
`);
  return path;
}

// ---------------------------------------------------------------------------------------------
// beat processes

export interface LogLine { at: number; text: string }

export interface BeatProc {
  readonly name: string;
  readonly kind: 'celeriac' | 'python';
  readonly process: ChildProcess;
  readonly startedAt: number;
  lines: LogLine[];
  /** The whole output. */
  output(): string;
  /** Lines matching `re` (with the time they arrived). */
  grep(re: RegExp): LogLine[];
  exited(): boolean;
  /** Resolves once a line matches `re` (arriving after `since`), rejects after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number, since?: number): Promise<LogLine>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<void>;
}

function track(name: string, kind: BeatProc['kind'], child: ChildProcess): BeatProc {
  const lines: LogLine[] = [];
  const feed = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const at = Date.now();
      const parts = (rest + d.toString('utf8')).split('\n');
      rest = parts.pop()!;
      for (const text of parts) lines.push({ at, text });
    });
    stream?.on('end', () => {
      if (rest) lines.push({ at: Date.now(), text: rest });
    });
  };
  feed(child.stdout);
  feed(child.stderr);
  child.on('error', (err) => lines.push({ at: Date.now(), text: `spawn failed: ${err.message}` }));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const proc: BeatProc = {
    name, kind, process: child, startedAt: Date.now(), lines,
    output: () => lines.map((l) => l.text).join('\n'),
    grep: (re) => lines.filter((l) => re.test(l.text)),
    exited,
    async waitFor(re, timeoutMs = 30_000, since = 0) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find((l) => l.at >= since && re.test(l.text));
        if (hit) return hit;
        if (Date.now() > end || exited()) throw new Error(`${name}: no line matching ${re} after ${timeoutMs} ms${exited() ? ` (exited ${child.exitCode ?? child.signalCode})` : ''}:\n${proc.output().slice(-4000)}`);
        await sleep(50);
      }
    },
    signal(sig) {
      if (!exited()) child.kill(sig);
    },
    async stop(graceMs = 10_000) {
      if (exited()) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(timer);
    },
  };
  return proc;
}

const CLEAN_ENV = { CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' };

/** `celeriac beat -A <app> -S redis --lock-timeout L --max-interval 1 -l info`, named `name` (HA_BEAT). */
export function spawnCeleriacBeat(name: string, appPath: string, lockTimeout: number, extraArgs: string[] = []): BeatProc {
  const args = [BIN, 'beat', '-A', appPath, '-S', 'redis', '--lock-timeout', String(lockTimeout), '--max-interval', '1', '-l', 'info', ...extraArgs];
  const child = spawn(process.execPath, args, {
    cwd: resolve(appPath, '..'), env: { ...process.env, ...CLEAN_ENV, HA_BEAT: name }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(name, 'celeriac', child);
}

/** Python RedBeat: `python -m celery -A <module> beat -S redbeat.RedBeatScheduler --max-interval 1 -l info`. */
export function spawnPythonBeat(name: string, appDir: string, module = 'ha_pyapp'): BeatProc {
  const child = spawn(resolve(PYTHON), ['-m', 'celery', '-A', module, 'beat', '-S', 'redbeat.RedBeatScheduler', '--max-interval', '1', '-l', 'info',
    '-s', join(appDir, `celerybeat-${name}`), '--pidfile='], {
    cwd: appDir,
    env: { ...process.env, ...CLEAN_ENV, HA_BEAT: name, PYTHONPATH: `${REDBEAT_PATH}:${appDir}`, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(name, 'python', child);
}

/** Runs the celeriac CLI once (e.g. `beat -S redis add ...`); resolves with its output, rejects on a non-zero exit. */
export function celeriacCli(appPath: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args.map((a) => (a === '@APP' ? appPath : a))], {
      cwd: resolve(appPath, '..'), env: { ...process.env, ...CLEAN_ENV }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`celeriac ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/** Runs Python code with RedBeat and the app dir on the path (e.g. to save an entry as RedBeat does). */
export function pythonSnippet(appDir: string, code: string): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(resolve(PYTHON), ['-c', code], {
      cwd: appDir, env: { ...process.env, ...CLEAN_ENV, PYTHONPATH: `${REDBEAT_PATH}:${appDir}`, PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`python snippet exited ${code}:\n${out}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// the queue

export interface Send {
  id: string;
  entry: string;
  /** `ha_beat`: the process that sent it. */
  beat: string;
  /** When the send began (the sender's clock: this machine's), epoch ms. */
  sentAt: number;
  /** When the poller first saw it, epoch ms. */
  seenAt: number;
}

/** Reads new messages off the queue's head every `everyMs` (nobody consumes it). Survives Redis restarts. */
export class QueueWatch {
  readonly sends: Send[] = [];
  /** Times the list was shorter than what had been read (acknowledged messages lost). */
  lost = 0;
  errors = 0;
  private readonly client: Redis;
  private seen = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;

  constructor(url: string, readonly queue: string, private readonly everyMs = 100) {
    this.client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, lazyConnect: false });
    this.client.on('error', () => {});
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.busy) this.busy = this.poll().finally(() => (this.busy = null));
    }, this.everyMs);
  }

  /** One more read (after the beats stopped), then the client is closed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    await this.poll();
    this.client.disconnect();
  }

  async poll(): Promise<void> {
    try {
      const len = await this.client.llen(this.queue);
      if (len < this.seen) {
        this.lost += this.seen - len;
        this.seen = len;
      }
      if (len === this.seen) return;
      const fresh = await this.client.lrange(this.queue, 0, len - this.seen - 1);
      const at = Date.now();
      for (const raw of fresh.reverse()) this.sends.push(parseSend(raw, at));
      this.seen = len;
    } catch {
      this.errors++;
    }
  }

  /** Resolves once a send matching `pred` was seen, else rejects after `timeoutMs`. */
  async waitFor(pred: (s: Send) => boolean, timeoutMs: number, what: string): Promise<Send> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.sends.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no send ${what} within ${timeoutMs} ms (${this.sends.length} sends so far)`);
      await sleep(50);
    }
  }
}

/** The entry a message is for: its `periodic_task_name` (celeriac sets it; RedBeat does not), else its first argument. */
function parseSend(raw: string, seenAt: number): Send {
  const m = JSON.parse(raw) as { headers: Record<string, unknown>; body: string; properties?: { body_encoding?: string } };
  const h = m.headers;
  const sent = Number(h.ha_sent_at);
  let entry = h.periodic_task_name as string | undefined;
  if (entry === undefined) {
    try {
      const body = JSON.parse(m.properties?.body_encoding === 'base64' ? Buffer.from(m.body, 'base64').toString('utf8') : m.body) as [unknown[]];
      entry = String(body[0][0]);
    } catch {
      entry = String(h.task);
    }
  }
  return {
    id: String(h.id), entry, beat: String(h.ha_beat ?? '?'),
    sentAt: Number.isFinite(sent) ? Math.round(sent * 1000) : seenAt, seenAt,
  };
}

// ---------------------------------------------------------------------------------------------
// faults and the report

export type FaultKind = 'kill' | 'stop' | 'cont' | 'term' | 'redis-restart' | 'start' | 'steal';

export interface Fault {
  kind: FaultKind;
  /** The beat the fault hit ('redis' for a restart). */
  target: string;
  at: number;
  /** redis-restart: when it accepted connections again; steal: when the foreign lock expires. */
  upAt?: number;
  /** stop: when it was continued. */
  contAt?: number;
}

export interface AnalyseOptions {
  interval?: number;
  /** A gap is a miss when longer than interval + this, s. @default 0.6 */
  tolerance?: number;
  /** Two different ids for one entry closer than this are a double, s. @default 0.5 */
  doubleWithin?: number;
  /** Only sends in [from, to) count. */
  from?: number;
  to?: number;
}

export interface Takeover {
  fault: Fault;
  /** The first send after the fault by a beat other than the target (any beat after a Redis restart). */
  by: string | null;
  /** ms from the fault (from Redis being up again, for a restart; from SIGCONT, no: from the stop) to that send. */
  ms: number | null;
  /** Redis restart: ms from the kill to the first send after it. */
  fromKillMs?: number;
}

export interface Report {
  sends: number;
  distinctIds: number;
  /** Extra copies of one task id. */
  sameIdDuplicates: number;
  doubles: { entry: string; a: Send; b: Send; gapMs: number }[];
  misses: { entry: string; from: number; to: number; gapMs: number }[];
  /** Largest gap not excused by a fault, ms. */
  worstGapMs: number;
  /** Largest gap of all, ms. */
  worstGapAnyMs: number;
  takeovers: Takeover[];
  /** Sends of new ids (not a copy of an id sent before) by a beat after it was killed, terminated or stopped: until it is started again, or (a stop) until the next fault elsewhere. */
  zombieSends: Send[];
  /** Sends of new ids while a foreign token held the lock (a steal), past a 200 ms grace for claims made before it. */
  stolenSends: Send[];
  /** Sends by each beat. */
  byBeat: Record<string, number>;
  perEntry: Record<string, number>;
  /** Times the sender changed between consecutive sends (all entries, in time order). */
  senderSwitches: number;
}

export function analyse(all: readonly Send[], faults: readonly Fault[], entries: readonly string[], o: AnalyseOptions = {}): Report {
  const interval = (o.interval ?? 1) * 1000;
  const tol = (o.tolerance ?? 0.6) * 1000;
  const within = (o.doubleWithin ?? 0.5) * 1000;
  const sends = all.filter((s) => (o.from === undefined || s.sentAt >= o.from) && (o.to === undefined || s.sentAt < o.to))
    .slice().sort((a, b) => a.sentAt - b.sentAt);
  const ids = new Map<string, Send>();
  let sameIdDuplicates = 0;
  for (const s of sends) {
    if (ids.has(s.id)) sameIdDuplicates++;
    else ids.set(s.id, s);
  }
  const doubles: Report['doubles'] = [];
  const misses: Report['misses'] = [];
  let worstGapMs = 0;
  let worstGapAnyMs = 0;
  const perEntry: Record<string, number> = {};
  // a gap is excused when a fault happened in it, or just before it began (a takeover's catch-up)
  const excused = (a: number, b: number) => faults.some((f) => f.kind !== 'start' && f.kind !== 'cont' && f.at <= b && (f.upAt ?? f.contAt ?? f.at) >= a - interval - tol);
  for (const name of entries) {
    const mine = sends.filter((s) => s.entry === name);
    perEntry[name] = mine.length;
    // one send per task id: a same-id copy is a resend, not a run
    const firsts: Send[] = [];
    const seen = new Set<string>();
    for (const s of mine) if (!seen.has(s.id)) (seen.add(s.id), firsts.push(s));
    for (let i = 1; i < firsts.length; i++) {
      const a = firsts[i - 1]!;
      const b = firsts[i]!;
      const gap = b.sentAt - a.sentAt;
      if (gap < within) doubles.push({ entry: name, a, b, gapMs: gap });
      worstGapAnyMs = Math.max(worstGapAnyMs, gap);
      if (gap > interval + tol) {
        if (!excused(a.sentAt, b.sentAt)) misses.push({ entry: name, from: a.sentAt, to: b.sentAt, gapMs: gap });
      }
      if (!excused(a.sentAt, b.sentAt)) worstGapMs = Math.max(worstGapMs, gap);
    }
  }
  const takeovers: Takeover[] = [];
  for (const f of faults) {
    if (f.kind === 'start' || f.kind === 'cont') continue;
    if (f.kind === 'redis-restart' || f.kind === 'steal') {
      const first = sends.find((s) => s.sentAt >= f.upAt!);
      takeovers.push({ fault: f, by: first?.beat ?? null, ms: first ? first.sentAt - f.upAt! : null, fromKillMs: first ? first.sentAt - f.at : undefined! });
    } else {
      const first = sends.find((s) => s.sentAt >= f.at && s.beat !== f.target);
      takeovers.push({ fault: f, by: first?.beat ?? null, ms: first ? first.sentAt - f.at : null });
    }
  }
  // a beat is dead/stopped from a kill/term/stop until a later start/cont of the same name
  const zombieSends: Send[] = [];
  const firstOfId = new Map<string, number>();
  for (const s of sends) if (!firstOfId.has(s.id)) firstOfId.set(s.id, s.sentAt);
  for (const f of faults) {
    if (f.kind !== 'kill' && f.kind !== 'stop' && f.kind !== 'term') continue;
    // until the same name is started again, or (a stop) until the next fault elsewhere: then it may lead again by right
    const ends = faults.filter((g) => g.at > f.at && ((g.target === f.target && g.kind === 'start')
      || (f.kind === 'stop' && g.target !== f.target && g.kind !== 'start' && g.kind !== 'cont'))).map((g) => g.at);
    const until = ends.length ? Math.min(...ends) : Infinity;
    for (const s of sends) {
      if (s.beat === f.target && s.sentAt > f.at && s.sentAt < until && firstOfId.get(s.id) === s.sentAt) zombieSends.push(s);
    }
  }
  const stolenSends = faults.filter((f) => f.kind === 'steal')
    .flatMap((f) => sends.filter((s) => s.sentAt > f.at + 200 && s.sentAt < f.upAt! && firstOfId.get(s.id) === s.sentAt));
  const byBeat: Record<string, number> = {};
  let senderSwitches = 0;
  sends.forEach((s, i) => {
    byBeat[s.beat] = (byBeat[s.beat] ?? 0) + 1;
    if (i > 0 && sends[i - 1]!.beat !== s.beat) senderSwitches++;
  });
  return {
    sends: sends.length, distinctIds: ids.size, sameIdDuplicates, doubles, misses, worstGapMs, worstGapAnyMs, takeovers, zombieSends,
    stolenSends, byBeat, perEntry, senderSwitches,
  };
}

/** The report as `celeriac-count:` lines. */
export function reportLines(label: string, r: Report): string[] {
  const t = (x: Takeover) => {
    const what = x.fault.kind === 'redis-restart' ? `redis restart (down ${x.fault.upAt! - x.fault.at} ms)`
      : x.fault.kind === 'steal' ? `lock held by a foreign token for ${x.fault.upAt! - x.fault.at} ms` : `${x.fault.kind} ${x.fault.target}`;
    return x.ms === null ? `${what}: no takeover` : x.fault.kind === 'redis-restart' || x.fault.kind === 'steal'
      ? `${what}: sending again ${x.ms} ms after ${x.fault.kind === 'steal' ? 'it expired' : 'redis was up'} (${x.fromKillMs} ms after the fault), by ${x.by}`
      : `${what}: ${x.by} sent ${x.ms} ms later`;
  };
  return [
    `celeriac-count: beat-ha [${label}] sends=${r.sends} distinct_ids=${r.distinctIds} same_id_duplicates=${r.sameIdDuplicates} doubles=${r.doubles.length} misses=${r.misses.length} zombie_sends=${r.zombieSends.length} stolen_lock_sends=${r.stolenSends.length} worst_gap_ms=${r.worstGapMs} (any ${r.worstGapAnyMs}) sender_switches=${r.senderSwitches} by_beat=${JSON.stringify(r.byBeat)} per_entry=${JSON.stringify(r.perEntry)}`,
    ...r.takeovers.map((x) => `celeriac-count: beat-ha [${label}] takeover: ${t(x)}`),
    ...r.doubles.slice(0, 10).map((d) => `celeriac-count: beat-ha [${label}] double: ${d.entry} ${d.a.beat}@${iso(d.a.sentAt)} ${d.a.id} / ${d.b.beat}@${iso(d.b.sentAt)} ${d.b.id} (${d.gapMs} ms apart)`),
    ...r.misses.slice(0, 10).map((m) => `celeriac-count: beat-ha [${label}] miss: ${m.entry} nothing between ${iso(m.from)} and ${iso(m.to)} (${m.gapMs} ms)`),
    ...r.zombieSends.slice(0, 10).map((s) => `celeriac-count: beat-ha [${label}] zombie send: ${s.beat} sent ${s.entry} ${s.id} at ${iso(s.sentAt)}`),
    ...r.stolenSends.slice(0, 10).map((s) => `celeriac-count: beat-ha [${label}] send under a foreign lock: ${s.beat} sent ${s.entry} ${s.id} at ${iso(s.sentAt)}`),
  ];
}

export const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

// ---------------------------------------------------------------------------------------------
// a fleet of beats on one Redis, with the faults recorded

export class HaFleet {
  readonly faults: Fault[] = [];
  readonly beats = new Map<string, BeatProc>();
  readonly watch: QueueWatch;

  constructor(readonly redis: HaRedis, readonly appPath: string, readonly entries: HaEntries, readonly lockTimeout: number) {
    this.watch = new QueueWatch(redis.url(0), entries.queue);
  }

  /** Starts celeriac beat `name` (a restart of a name is a new process with that name). */
  start(name: string, lockTimeout = this.lockTimeout): BeatProc {
    const b = spawnCeleriacBeat(name, this.appPath, lockTimeout);
    this.add(b);
    return b;
  }

  add(b: BeatProc): BeatProc {
    this.beats.set(b.name, b);
    this.faults.push({ kind: 'start', target: b.name, at: Date.now() });
    return b;
  }

  get(name: string): BeatProc {
    const b = this.beats.get(name);
    if (!b) throw new Error(`no beat ${name}`);
    return b;
  }

  /** The beat that sent the latest message (the leader as far as the queue says). */
  leader(): string | null {
    const s = this.watch.sends;
    return s.length ? s[s.length - 1]!.beat : null;
  }

  async kill(name: string): Promise<Fault> {
    const b = this.get(name);
    const done = new Promise((r) => b.process.once('exit', r));
    b.signal('SIGKILL');
    const f: Fault = { kind: 'kill', target: name, at: Date.now() };
    this.faults.push(f);
    await done;
    return f;
  }

  async term(name: string): Promise<Fault> {
    const f: Fault = { kind: 'term', target: name, at: Date.now() };
    this.faults.push(f);
    await this.get(name).stop();
    return f;
  }

  /** SIGSTOP for `ms`, then SIGCONT. */
  async pause(name: string, ms: number): Promise<Fault> {
    const b = this.get(name);
    b.signal('SIGSTOP');
    const f: Fault = { kind: 'stop', target: name, at: Date.now() };
    this.faults.push(f);
    await sleep(ms);
    b.signal('SIGCONT');
    f.contAt = Date.now();
    this.faults.push({ kind: 'cont', target: name, at: f.contAt });
    return f;
  }

  /**
   * Another holder takes the lock (its key overwritten with a foreign token for `holdMs`), as when a
   * leader's lease lapsed on Redis while it still believes it holds it: until its next renewal fails,
   * only the claim's fencing (the token check) stops it from sending. Nobody may send until it expires.
   */
  async steal(holdMs: number, key = 'redbeat::lock'): Promise<Fault> {
    const c = new Redis(this.redis.url(0));
    try {
      await c.set(key, 'ha-intruder', 'PX', holdMs);
      const at = Date.now();
      const f: Fault = { kind: 'steal', target: 'intruder', at, upAt: at + holdMs };
      this.faults.push(f);
      return f;
    } finally {
      c.disconnect();
    }
  }

  async restartRedis(downMs = 1500): Promise<Fault> {
    const f: Fault = { kind: 'redis-restart', target: 'redis', at: Date.now() };
    this.faults.push(f);
    const { killedAt, upAt } = await this.redis.restart(downMs);
    f.at = killedAt;
    f.upAt = upAt;
    return f;
  }

  /** Waits until a beat other than `not` sends something after `since`. */
  sendBy(pred: (s: Send) => boolean, timeoutMs: number, what: string): Promise<Send> {
    return this.watch.waitFor(pred, timeoutMs, what);
  }

  report(o: AnalyseOptions = {}): Report {
    return analyse(this.watch.sends, this.faults, this.entries.names, { interval: this.entries.interval, ...o });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.beats.values()].map((b) => b.stop()));
    await this.watch.stop();
  }
}
