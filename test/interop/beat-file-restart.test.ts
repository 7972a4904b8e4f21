// Restarts of the file store with real process kills. A child beat (test/helpers/beat-crash-child.ts:
// the real Scheduler + FileBeatStore + BeatService, sending through sendTask to a private redis-server)
// SIGKILLs itself at one step of claim, persist and send; a fresh child restarts on the same file and
// runs 5 s, then stops warm. A real TypeScript worker (worker_deduplicate_successful_tasks on, Redis
// result backend) consumes the queue all along; its task body counts executions per task id in Redis
// (HINCRBY). What reached the broker is counted apart from the worker: a MONITOR connection sees every
// LPUSH to the queue.
//
// "No slot lost", precisely. Under Celery's semantics an interval entry's slots are not a fixed grid:
// a run at time r makes the next slot r + interval, and after downtime the entry runs once to catch
// up. So, for every entry:
//   1. every slot a beat claimed (in any life, the killed one included) reached the broker;
//   2. the slots sent form an unbroken chain: each was derived from the run of the previous slot sent
//      (its claim's previous last_run_at is that run's time), the first from the entry's initial state.
//      A slot claimed, advanced past and never sent would break it;
//   3. no run before its due time (each run >= the previous run + interval): the catch-up after the
//      restart is one run, not a burst;
//   4. after the restart every entry runs (the catch-up) within TOL of the restarted beat's start, and
//      when it stops nothing due is left unsent (last run + interval >= stop - TOL).
// And: every message's id is the slot id of a claimed slot (a slot sent twice carries one id), the
// slots pending on restart are exactly those claimed and not marked sent in the killed life (within
// what the kill point leaves unsure), and with deduplication every slot executes exactly once.
//
// Also here: the warm stop (SIGTERM while publishes of a tick are in flight leaves nothing pending),
// and clock jumps (in-process, a BeatClock 1 hour ahead, then back).
//
// Prints `celeriac-count: beat file restart <scenario>: sends=... distinct=... same-id-resends=...
// executions-per-slot max=...`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { Scheduler, type BeatClock } from '../../src/beat/scheduler.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import type { ScheduleJSON } from '../../src/beat/schedules/base.ts';
import { BeatService } from '../../src/beat/service.ts';
import { slotTaskId } from '../../src/beat/slot.ts';
import type { Claim, EntryDefinition } from '../../src/beat/store.ts';
import { FileBeatStore } from '../../src/beat/stores/file.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { cleanupDirs, requireBinaries, startRedis, tempDir, type PrivateRedis } from '../helpers/private-redis.ts';
import { testLogger } from '../helpers/worker.ts';
import type { CrashChildConfig, CrashPoint } from '../helpers/beat-crash-child.ts';

const CHILD = 'test/helpers/beat-crash-child.ts';
const TASK = 'beat.crash.tick';
const ENTRIES = 3;
const INTERVAL = 1;
/** Slack for "runs at once" and "nothing left unsent" on a loaded 2-core machine. */
const TOL = 2500;
const RESTART_RUN_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  name: string;
  crash: CrashPoint;
  /** The occurrence of the crash point to die at (per call: 3 entries make 3 publishes a tick). */
  at: number;
  /** Same-id resends this kill must cause ('some'), must not ('none'), or may ('any'). */
  resends: 'some' | 'none' | 'any';
}

// compactEvery 3 (lines: a claims line and a sent line a tick) puts compactions inside both claim() and sent()
const COMPACT_EVERY = 3;
const SCENARIOS: Scenario[] = [
  { name: 'before-claim', crash: 'before-claim', at: 3, resends: 'none' },
  // the first publish of tick 2 (its claims line triggered a compaction); nothing of the batch went out
  { name: 'before-publish', crash: 'before-publish', at: 4, resends: 'none' },
  // the second publish of tick 3: the first may have reached Redis
  { name: 'before-publish-mid-batch', crash: 'before-publish', at: 8, resends: 'any' },
  { name: 'before-sent', crash: 'before-sent', at: 3, resends: 'some' },
  { name: 'torn-claim-line', crash: 'torn-claim-line', at: 3, resends: 'none' },
  { name: 'torn-sent-line', crash: 'torn-sent-line', at: 3, resends: 'some' },
  // the first compaction after start is inside claim() (tick 2's claims line), the second inside sent()
  { name: 'compact-before-rename', crash: 'compact-before-rename', at: 1, resends: 'none' },
  { name: 'compact-after-rename', crash: 'compact-after-rename', at: 2, resends: 'any' },
];

interface Ev {
  ev: string;
  pid: number;
  t: number;
  [k: string]: unknown;
}
interface Req { name: string; slot: number; taskId: string; prevRunAt: number; runAt: number }

interface ChildRun { code: number | null; signal: NodeJS.Signals | null; out: string; pid: number }

function runChild(cfg: CrashChildConfig, onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      partial += d.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine?.(l, child);
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, pid: child.pid! });
    });
  });
}

function readEvents(path: string): Ev[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
}

describe('file store: restarts after kill -9 at each step of claim, persist and send', () => {
  let skip = false;
  let server: PrivateRedis;
  let url: string;
  let redis: Redis;
  let monitor: Redis;
  let monitorBase: Redis;
  let app: Celery;
  let worker: Worker;
  const EXEC = 'beat.restart.executions';
  const queueOf = (s: string) => `beat.restart.${s}`;
  const queues = [...SCENARIOS.map((s) => s.name), 'warm-stop'].map(queueOf);
  /** Task ids of the messages pushed to each queue, in order (from MONITOR). */
  const pushed = new Map<string, { id: string; periodic: unknown }[]>();
  /** Deliveries the worker settled (ran or skipped as a duplicate), by task id. */
  const settled = new Map<string, number>();
  const deduplicated = new Map<string, number>();

  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requireBinaries(probe)) return;
    server = await startRedis({ prefix: 'beat-restart' });
    url = `redis://127.0.0.1:${server.port}/0`;
    redis = new Redis(url);
    monitorBase = new Redis(url);
    monitor = await monitorBase.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() !== 'lpush' || !queues.includes(args[1]!)) return;
      const list = pushed.get(args[1]!) ?? [];
      for (const v of args.slice(2)) {
        const m = JSON.parse(v) as { headers: { id: string; periodic_task_name?: unknown } };
        list.push({ id: m.headers.id, periodic: m.headers.periodic_task_name });
      }
      pushed.set(args[1]!, list);
    });
    app = new Celery({ broker_url: url, result_backend: url, worker_deduplicate_successful_tasks: true, env: {} });
    app.task(TASK, async (self: BoundTask, name: string) => {
      await redis.hincrby(EXEC, self.request.id, 1);
      return name;
    }, { bind: true });
    worker = new Worker(app, { queues, concurrency: 4, hostname: 'beat-restart@%h', logger: testLogger(), withoutMingle: true });
    worker.on('task-finished', (req) => void settled.set(req.id, (settled.get(req.id) ?? 0) + 1));
    worker.on('task-deduplicated', (req) => {
      settled.set(req.id, (settled.get(req.id) ?? 0) + 1);
      deduplicated.set(req.id, (deduplicated.get(req.id) ?? 0) + 1);
    });
    await worker.start();
  });

  after(async () => {
    if (skip) return;
    await worker?.stop();
    await app?.close();
    monitor?.disconnect();
    monitorBase?.disconnect();
    redis?.disconnect();
    await server?.stop();
    cleanupDirs();
  });

  function config(name: string, dir: string, crash: CrashPoint | null, at = 1): CrashChildConfig {
    return {
      path: join(dir, 'celerybeat-schedule.json'), broker: url, queue: queueOf(name), events: join(dir, 'events.jsonl'),
      entries: ENTRIES, interval: INTERVAL, crash, at, runMs: RESTART_RUN_MS, compactEvery: COMPACT_EVERY, prefix: `${name}.`,
    };
  }

  /** Waits until every message pushed to the queue was run or skipped by the worker. */
  async function drained(queue: string): Promise<void> {
    const end = Date.now() + 30_000;
    for (;;) {
      await sleep(300);
      const msgs = pushed.get(queue) ?? [];
      const ids = new Set(msgs.map((m) => m.id));
      const done = [...ids].reduce((n, id) => n + (settled.get(id) ?? 0), 0);
      if (done >= msgs.length && (await redis.llen(queue)) === 0) return;
      if (Date.now() > end) throw new Error(`worker did not settle ${queue}: ${done} of ${msgs.length} messages`);
    }
  }

  /**
   * Checks the guarantee over both lives; returns the counts. `killed` is the pid of the life that was
   * killed (or stopped warm), `restarted` the pid of the life after it.
   */
  async function check(name: string, events: Ev[], killed: number, restarted: number, resends: Scenario['resends']) {
    const queue = queueOf(name);
    const msgs = pushed.get(queue) ?? [];
    // the claim requests, by task id (the latest: a claim that did not persist is claimed again)
    const reqs = new Map<string, Req>();
    for (const e of events) if (e.ev === 'claiming') for (const r of e.requests as Req[]) reqs.set(r.taskId, r);
    const claimedIds = new Set(events.filter((e) => e.ev === 'claimed').flatMap((e) => e.taskIds as string[]));
    const sentIds = new Set(msgs.map((m) => m.id));
    const sends = msgs.length;
    const distinct = sentIds.size;
    const execs = await redis.hgetall(EXEC);
    const perSlot = [...sentIds].map((id) => Number(execs[id] ?? 0));
    const maxExec = Math.max(0, ...perSlot);
    console.log(`celeriac-count: beat file restart ${name}: sends=${sends} distinct=${distinct} same-id-resends=${sends - distinct} `
      + `executions-per-slot max=${maxExec} min=${Math.min(...perSlot)} deduplicated=${[...sentIds].reduce((n, id) => n + (deduplicated.get(id) ?? 0), 0)}`);

    // every message is a claimed slot's, with its slot id and periodic_task_name
    for (const m of msgs) {
      const r = reqs.get(m.id);
      assert.ok(r, `${name}: message ${m.id} is no claimed slot's`);
      assert.equal(m.id, slotTaskId(r.name, r.slot));
      assert.equal(m.periodic, r.name);
    }
    // 1. every slot claimed reached the broker
    for (const id of claimedIds) assert.ok(sentIds.has(id), `${name}: slot ${JSON.stringify(reqs.get(id))} was claimed and never sent`);
    // the slots pending on restart: those claimed and not marked sent by the killed life, within what its kill left unsure
    const lifeEvents = (pid: number, ev: string) => events.filter((e) => e.pid === pid && e.ev === ev);
    const ids = (pid: number, ev: string) => new Set(lifeEvents(pid, ev).flatMap((e) => (e.taskIds as string[] | undefined) ?? (e.requests as Req[]).map((r) => r.taskId)));
    const claiming = ids(killed, 'claiming');
    const claimed = ids(killed, 'claimed');
    const marking = ids(killed, 'marking');
    const marked = ids(killed, 'marked');
    const pendingEv = lifeEvents(restarted, 'pending')[0];
    assert.ok(pendingEv, `${name}: the restarted beat never asked for its pending slots`);
    const pending = new Set((pendingEv.claims as Claim[]).map((c) => c.taskId));
    const surely = [...claimed].filter((id) => !marking.has(id));
    const maybe = new Set([...claiming].filter((id) => !marked.has(id)));
    for (const id of surely) assert.ok(pending.has(id), `${name}: slot ${JSON.stringify(reqs.get(id))} was claimed, never marked sent, and is not pending after the restart`);
    for (const id of pending) assert.ok(maybe.has(id), `${name}: ${id} is pending after the restart, but was marked sent (or never claimed)`);
    // 2-4: the chain of each entry
    const initial = new Map((events.find((e) => e.ev === 'initial')!.entries as { name: string; lastRunAt: number }[]).map((e) => [e.name, e.lastRunAt]));
    const start2 = events.find((e) => e.pid === restarted && e.ev === 'start')!.t;
    const stop2 = events.find((e) => e.pid === restarted && e.ev === 'stopping')!.t;
    for (const [entry, init] of initial) {
      const chain = [...sentIds].map((id) => reqs.get(id)!).filter((r) => r.name === entry).sort((a, b) => a.slot - b.slot);
      assert.ok(chain.length > 0, `${name}: ${entry} never sent`);
      assert.equal(chain[0]!.prevRunAt, init, `${name}: ${entry}'s first slot is not one interval after its initial state`);
      for (let k = 1; k < chain.length; k++) {
        const [a, b] = [chain[k - 1]!, chain[k]!];
        assert.equal(b.prevRunAt, a.runAt, `${name}: ${entry}: a hole before slot ${b.slot}: it follows a run at ${b.prevRunAt}, the previous slot sent ran at ${a.runAt}`);
        assert.ok(b.runAt >= a.runAt + INTERVAL * 1000, `${name}: ${entry}: ran at ${b.runAt}, before its due time ${a.runAt + INTERVAL * 1000}`);
      }
      const afterRestart = chain.filter((r) => r.runAt >= start2);
      assert.ok(afterRestart.length > 0 && afterRestart[0]!.runAt <= start2 + TOL + 2000,
        `${name}: ${entry} did not catch up at once after the restart (first run ${afterRestart[0]?.runAt ?? '-'} vs start ${start2})`);
      const last = chain[chain.length - 1]!;
      assert.ok(last.runAt + INTERVAL * 1000 >= stop2 - TOL, `${name}: ${entry}: nothing sent after ${last.runAt}, stopped at ${stop2}`);
    }
    // sent twice only with the same id, and only when the kill left the sender unsure
    if (resends === 'none') assert.equal(sends - distinct, 0, `${name}: resends where the kill left nothing unsure`);
    if (resends === 'some') assert.ok(sends > distinct, `${name}: the kill after the broker took the batch should cause same-id resends`);
    // deduplication: every slot ran exactly once
    assert.deepEqual(perSlot.filter((n) => n !== 1), [], `${name}: executions per slot: ${JSON.stringify(perSlot)}`);
    return { sends, distinct };
  }

  for (const s of SCENARIOS) {
    test(`kill -9 ${s.name} (${s.crash} #${s.at}), then restart: every slot sent, duplicates share the id, one execution each`, async (t) => {
      if (skip) return t.skip();
      const dir = tempDir('beat-restart');
      const first = await runChild(config(s.name, dir, s.crash, s.at));
      const events1 = readEvents(join(dir, 'events.jsonl'));
      const crash = events1.find((e) => e.ev === 'crash');
      assert.ok(crash, `${s.name}: the child did not reach its crash point:\n${first.out}`);
      assert.equal(first.signal, 'SIGKILL', first.out);
      const second = await runChild(config(s.name, dir, null));
      assert.equal(second.code, 0, second.out);
      await drained(queueOf(s.name));
      await check(s.name, readEvents(join(dir, 'events.jsonl')), first.pid, second.pid, s.resends);
    });
  }

  test('warm stop: SIGTERM while a tick\'s publishes are in flight leaves nothing pending; the restart resends nothing', async (t) => {
    if (skip) return t.skip();
    const dir = tempDir('beat-restart');
    const cfg = { ...config('warm-stop', dir, null), runMs: 60_000, publishDelayMs: 300, entries: 6 };
    let publishing = 0;
    let termAt = 0;
    const first = await runChild(cfg, (line, child) => {
      // the first publish of tick 3
      if (line.startsWith('publishing') && ++publishing === 13) {
        termAt = Date.now();
        child.kill('SIGTERM');
      }
    });
    assert.equal(first.code, 0, first.out);
    assert.ok(termAt > 0);
    const events1 = readEvents(cfg.events);
    // the tick in flight completed: everything claimed was confirmed and marked sent
    const all = (ev: string) => new Set(events1.filter((e) => e.ev === ev).flatMap((e) => (e.taskIds as string[] | undefined) ?? [e.taskId as string]));
    assert.deepEqual([...all('claimed')].filter((id) => !all('marked').has(id)), [], 'claimed, not marked sent at the warm stop');
    assert.deepEqual([...all('claimed')].filter((id) => !all('confirmed').has(id)), [], 'claimed, not confirmed at the warm stop');
    assert.ok(all('claimed').size >= 18, `a third tick was claimed: ${all('claimed').size}`);
    const snapshot = JSON.parse(readFileSync(cfg.path, 'utf8')) as { pending: unknown[] };
    assert.deepEqual(snapshot.pending, []);
    assert.equal(readFileSync(`${cfg.path}.journal`, 'utf8'), '');
    assert.equal(existsSync(`${cfg.path}.lock`), false);
    const second = await runChild({ ...cfg, runMs: RESTART_RUN_MS, publishDelayMs: 0 });
    assert.equal(second.code, 0, second.out);
    await drained(queueOf('warm-stop'));
    const events = readEvents(cfg.events);
    assert.deepEqual(events.find((e) => e.pid === second.pid && e.ev === 'pending')!.claims, []);
    await check('warm-stop', events, first.pid, second.pid, 'none');
  });
});

describe('file store: clock jumps (in-process)', () => {
  test('1 hour forward: one catch-up, no burst; 1 hour back: the schedule waits until the clock is past the last run, then resumes', async () => {
    const dir = tempDir('beat-clock');
    const path = join(dir, 'celerybeat-schedule.json');
    let offset = 0;
    const clock: BeatClock = { now: () => Date.now() + offset };
    const sent: { claim: Claim; at: number; phase: number }[] = [];
    let phase = 1;
    let ticks = 0;
    const fromJSON = (json: ScheduleJSON) => schedule((json as { every: number }).every);
    let scheduler!: Scheduler;
    const store = new FileBeatStore({ path, timezone: 'UTC', logger: silentLogger, fromJSON, dueAt: (e, now) => scheduler.dueAt(e, now), now: () => clock.now() });
    const due = store.due.bind(store);
    store.due = (until) => {
      ticks++;
      return due(until);
    };
    scheduler = new Scheduler({
      store, context: { timezone: 'UTC' }, logger: silentLogger, clock, maxInterval: 1000,
      publisher: { publish: async (claim) => void sent.push({ claim, at: clock.now(), phase }) },
    });
    const statics: EntryDefinition[] = ['a', 'b', 'c'].map((name) => ({
      name: `jump.${name}`, task: 't.jump', schedule: schedule(1), args: [], kwargs: {}, options: {}, enabled: true,
    }));
    const service = new BeatService({ scheduler, store, statics, logger: silentLogger, clock, maxInterval: 1000 });
    await service.start();
    const HOUR = 3_600_000;
    const PHASE = 3200;
    await sleep(PHASE);
    const ticks1 = ticks;
    phase = 2;
    offset = HOUR; // forward
    await sleep(PHASE);
    phase = 3;
    const lastRun = Math.max(...sent.map((s) => s.at));
    offset = 0; // back
    const ticksBefore3 = ticks;
    await sleep(PHASE);
    const ticks3 = ticks - ticksBefore3;
    phase = 4;
    // the wall clock "catches up" with the last run (an hour later, compressed)
    offset = lastRun - Date.now();
    await sleep(PHASE);
    await service.stop();

    const by = (p: number, name: string) => sent.filter((s) => s.phase === p && s.claim.name === name);
    const ids = sent.map((s) => s.claim.taskId);
    const counts = [1, 2, 3, 4].map((p) => sent.filter((s) => s.phase === p).length);
    console.log(`celeriac-count: beat clock jump: sends=${sent.length} distinct=${new Set(ids).size} per phase (normal, +1h, -1h, caught up)=${counts.join('/')} `
      + `ticks phase1=${ticks1} phase3=${ticks3}`);
    assert.equal(new Set(ids).size, ids.length, 'no slot sent twice');
    for (const s of statics) {
      const [p1, p2, p3, p4] = [1, 2, 3, 4].map((p) => by(p, s.name));
      assert.ok(p1!.length >= 2 && p1!.length <= 4, `${s.name}: phase 1: ${p1!.length} sends`);
      // forward: one catch-up (its slot is the one due before the jump), then every second: no burst
      const catchUps = p2!.filter((x) => x.claim.slot < p2![0]!.at - HOUR / 2);
      assert.equal(catchUps.length, 1, `${s.name}: catch-ups after the forward jump: ${catchUps.length}`);
      assert.ok(p2!.length <= Math.ceil(PHASE / 1000) + 1, `${s.name}: ${p2!.length} sends in ${PHASE} ms after the forward jump`);
      for (let k = 1; k < p2!.length; k++) assert.ok(p2![k]!.at - p2![k - 1]!.at >= 1000, `${s.name}: two sends less than 1 s apart after the forward jump`);
      // back: nothing is due until the clock passes the last run + interval (Celery's rule; a stall)
      assert.equal(p3!.length, 0, `${s.name}: sent ${p3!.length} right after the backward jump`);
      // caught up: the chain continues from the last run, one a second
      assert.ok(p4!.length >= 2 && p4!.length <= 4, `${s.name}: phase 4: ${p4!.length} sends`);
      const lastOf2 = p2![p2!.length - 1]!;
      assert.ok(p4![0]!.claim.slot >= lastOf2.claim.slot + 1000 && p4![0]!.claim.slot <= lastOf2.at + 1000 + 5,
        `${s.name}: first slot after catching up ${p4![0]!.claim.slot}, last run before the jump ${lastOf2.at}`);
    }
    // the loop does not spin while it waits: about one tick per max interval (1 s)
    assert.ok(ticks3 <= Math.ceil(PHASE / 1000) + 2, `${ticks3} ticks in ${PHASE} ms after the backward jump`);
    cleanupDirs();
  });
});
