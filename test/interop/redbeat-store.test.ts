// The Redis beat store and leader lock against real Python RedBeat (../shared/peers/redbeat) and real
// Redis (db 11, a fresh key prefix per test): each side reads what the other wrote, their scores agree,
// their locks exclude each other, and claims are refused when stale, duplicated or unfenced.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { IN_CI, PYTHON, REDIS_HOST, REDIS_PORT, redisUrl, redbeatPath, requirePython, uniqueName } from '../helpers/peers.ts';
import { RedisBeatStore, type RedisStoreOptions } from '../../src/beat/stores/redis.ts';
import { UnrepresentableScheduleError } from '../../src/beat/stores/redbeat-codec.ts';
import { LeaderLock } from '../../src/beat/lock.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import { crontab } from '../../src/beat/schedules/crontab.ts';
import { slotTaskId } from '../../src/beat/slot.ts';
import type { Schedule, ScheduleContext, ScheduleJSON } from '../../src/beat/schedules/base.ts';
import type { ClaimRequest, Entry, EntryDefinition } from '../../src/beat/store.ts';

const DB = 11;
const URL = redisUrl(DB);
const PEER = 'test/python/redbeat_peer.py';
const REDBEAT = redbeatPath();
const TZ = 'Europe/Berlin';
const ctx: ScheduleContext = { timezone: TZ };

const client = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB, lazyConnect: true });
const prefixes: string[] = [];

before(async () => {
  await client.connect();
});
after(async () => {
  for (const p of prefixes) {
    const keys = await client.keys(`${p}*`);
    if (keys.length > 0) await client.del(...keys);
  }
  client.disconnect();
});

function requireRedBeat(t: TestContext): boolean {
  if (!requirePython(t)) return false;
  if (existsSync(resolve(REDBEAT, 'redbeat', 'schedulers.py'))) return true;
  const why = `RedBeat not found at ${REDBEAT} (the peers folder beside the project)`;
  if (IN_CI) throw new Error(why);
  t.skip(why);
  return false;
}

/** Runs one operation of the Python peer. */
function py(prefix: string, op: string, input: Record<string, unknown>): Promise<{ now: number; result: any }> {
  return new Promise((ok, fail) => {
    const child = spawn(PYTHON, [PEER], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONPATH: REDBEAT, PYTHONDONTWRITEBYTECODE: '1', PYTHONWARNINGS: 'ignore' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(JSON.parse(out)) : fail(new Error(`${PEER} ${op} exited ${code}:\n${err}`))));
    child.stdin.end(JSON.stringify({ url: URL, prefix, timezone: TZ, op, ...input }));
  });
}

function stub(json: ScheduleJSON): Schedule {
  return { kind: json.type, toJSON: () => json, toString: () => `<${json.type}>`, remainingEstimate: () => null, isDue: () => ({ isDue: false, next: null }) };
}

function fromJSON(json: ScheduleJSON): Schedule {
  if (json.type === 'interval') return schedule(json.every, { relative: json.relative });
  if (json.type === 'crontab') {
    const { type: _t, ...f } = json;
    return crontab(f);
  }
  return stub(json);
}

/** RedBeat's due_at, as the scheduler gives it. */
function dueAt(e: Entry, now: number): number | null {
  if (!e.enabled) return null;
  if (e.lastRunAt === null) return now;
  const rem = e.schedule.remainingEstimate(e.lastRunAt, now, ctx);
  return rem === null ? null : e.lastRunAt + rem;
}

/** The exact next run after the last (what the store's scores hold). */
const nextRun = (e: Entry) => (e.lastRunAt === null ? null : e.lastRunAt + e.schedule.remainingEstimate(e.lastRunAt, e.lastRunAt, ctx)!);

const logs: string[] = [];
function store(prefix: string, extra: Partial<RedisStoreOptions> = {}): RedisBeatStore {
  return new RedisBeatStore({
    client, keyPrefix: prefix, fromJSON, dueAt, timezone: TZ,
    logger: { warning: (m) => logs.push(m), error: (m) => logs.push(m) }, ...extra,
  });
}

function freshPrefix(what: string): string {
  const p = `${uniqueName(`rbs-${what}`)}:`;
  prefixes.push(p);
  return p;
}

const def = (name: string, sched: Schedule, extra: Partial<EntryDefinition> = {}): EntryDefinition => ({
  name, task: 'tasks.add', schedule: sched, args: [], kwargs: {}, options: {}, enabled: true, ...extra,
});

function request(entry: Entry, now: number): ClaimRequest {
  const slot = entry.lastRunAt === null ? now : nextRun(entry)!;
  const meta = { lastRunAt: now, totalRunCount: entry.totalRunCount + 1 };
  return { entry, slot, taskId: slotTaskId(entry.name, slot), meta, nextDueAt: dueAt({ ...entry, ...meta }, now) };
}

describe('Python writes, celeriac reads', () => {
  test('entries saved and run by Python RedBeat: schedule, arguments, run state, due time', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('py');
    const quarter = Math.floor(Date.now() / 900_000) * 900_000; // the last */15 slot
    const { result: saved } = await py(prefix, 'save', {
      entries: [
        { name: 'py-int', task: 'tasks.add', schedule: { type: 'interval', every: 10 }, args: [1, 2], kwargs: { a: 1 }, options: { queue: 'q' }, next: 2 },
        { name: 'py-cron', task: 'tasks.cron', schedule: { type: 'crontab', minute: '*/15', hour: '*' }, last_run_at: (quarter + 1000) / 1000, total_run_count: 5 },
        { name: 'py-off', task: 'tasks.off', schedule: { type: 'interval', every: 60, relative: true }, enabled: false },
      ],
    });
    const s = store(prefix);
    const byName = new Map((await s.list()).map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), ['py-cron', 'py-int', 'py-off']);

    const int = byName.get('py-int')!;
    assert.deepEqual([int.task, int.args, int.kwargs, int.options, int.enabled], ['tasks.add', [1, 2], { a: 1 }, { queue: 'q' }, true]);
    assert.deepEqual(int.schedule.toJSON(), { type: 'interval', every: 10, relative: false });
    assert.equal(int.totalRunCount, 2);
    assert.ok(Math.abs(int.lastRunAt! - saved[0].last_run_at * 1000) < 0.01, `${int.lastRunAt} vs ${saved[0].last_run_at}`); // microsecond exact

    const cron = byName.get('py-cron')!;
    assert.deepEqual(cron.schedule.toJSON(), { type: 'crontab', minute: '*/15', hour: '*', day_of_week: '*', day_of_month: '*', month_of_year: '*' });
    assert.deepEqual([cron.lastRunAt, cron.totalRunCount], [quarter + 1000, 0]); // RedBeat's save() writes last_run_at alone
    assert.equal(nextRun(cron), quarter + 900_000);

    const off = byName.get('py-off')!;
    assert.deepEqual([off.enabled, off.schedule.toJSON()], [false, { type: 'interval', every: 60, relative: true }]);

    // due: the interval entry ten seconds after its last run, the crontab at the next quarter
    const now = Date.now();
    const early = await s.due(now);
    assert.ok(!early.entries.some((e) => e.name === 'py-int' || e.name === 'py-cron'));
    assert.ok(early.nextAt !== null && early.nextAt <= int.lastRunAt! + 10_000, `nextAt ${early.nextAt}`);
    const later = await s.due(int.lastRunAt! + 10_000);
    assert.ok(later.entries.some((e) => e.name === 'py-int'));
    const atQuarter = await s.due(quarter + 900_000);
    assert.ok(atQuarter.entries.some((e) => e.name === 'py-cron'));
    assert.ok(!(await s.due(quarter + 899_000)).entries.some((e) => e.name === 'py-cron'));
  });

  test('a zset member whose hash is gone is removed and logged; an unreadable entry is skipped, logged once', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('gone');
    const s = store(prefix);
    await client.zadd(`${prefix}:schedule`, 1, `${prefix}ghost`, 1, `${prefix}odd`);
    await client.hset(`${prefix}odd`, 'definition', '{"name": "odd", "task": "t", "schedule": {"__type__": "mystery"}}');
    logs.length = 0;
    assert.deepEqual((await s.due(Date.now())).entries, []);
    await s.due(Date.now());
    assert.equal(await client.zscore(`${prefix}:schedule`, `${prefix}ghost`), null);
    assert.equal(logs.filter((l) => /Failed to load .*ghost, removing/.test(l)).length, 1);
    assert.equal(logs.filter((l) => /odd cannot be read .*mystery/.test(l)).length, 1);
  });
});

describe('celeriac writes, Python reads', () => {
  test('saved and claimed entries load in Python with the same schedule, run state, due and score', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('ts');
    const s = store(prefix);
    const setupAt = Date.now();
    await s.setup([
      def('ts-int', schedule(30), { args: [1, 'x'], kwargs: { k: [1, 2] }, options: { queue: 'celery', priority: 5 } }),
      def('ts-cron', crontab({ minute: 0, hour: 9 })),
    ], setupAt);
    assert.deepEqual((await client.smembers(`${prefix}:statics`)).sort(), ['ts-cron', 'ts-int']);

    const entry = (await s.get('ts-int'))!;
    const claimAt = Date.now();
    const claims = await s.claim([request(entry, claimAt)]);
    assert.equal(claims.length, 1);

    const { now: pyNow, result } = await py(prefix, 'load', { names: ['ts-int', 'ts-cron'] });
    const int = result['ts-int'];
    assert.equal(int.error, undefined);
    assert.deepEqual([int.task, int.args, int.kwargs, int.options, int.enabled], ['tasks.add', [1, 'x'], { k: [1, 2] }, { queue: 'celery', priority: 5 }, true]);
    assert.deepEqual(int.schedule, { type: 'interval', every: 30, relative: false });
    assert.ok(Math.abs(int.last_run_at * 1000 - claimAt) < 0.01, `${int.last_run_at} vs ${claimAt}`);
    assert.equal(int.total_run_count, 1);
    assert.equal(int.is_due[0], false);
    assert.ok(Math.abs(pyNow + int.is_due[1] - (claimAt + 30_000) / 1000) < 1, `python next ${pyNow + int.is_due[1]}`);
    assert.equal(int.stored_score, Math.floor((claimAt + 30_000) / 1000));
    // Python's own score (due_at counts the remaining time from its now) is at most the time since the claim early
    assert.ok(int.score <= int.stored_score && int.stored_score - int.score <= Math.ceil(pyNow - claimAt / 1000) + 1, `python score ${int.score}`);

    const cron = result['ts-cron'];
    assert.deepEqual(cron.schedule, { type: 'crontab', minute: 0, hour: 9, day_of_week: '*', day_of_month: '*', month_of_year: '*' });
    assert.ok(Math.abs(cron.last_run_at * 1000 - setupAt) < 0.01);
    assert.equal(cron.total_run_count, 0);
    const ours = crontab({ minute: 0, hour: 9 }).isDue(setupAt, pyNow * 1000, ctx);
    assert.equal(cron.is_due[0], ours.isDue);
    assert.ok(Math.abs(cron.is_due[1] - ours.next!) < 1, `python ${cron.is_due[1]} vs ${ours.next}`);
    const next = nextRun((await s.get('ts-cron'))!)!;
    assert.equal(new Date(next).toLocaleString('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit' }), '09:00');
    assert.equal(cron.stored_score, Math.floor(next / 1000));
  });

  test('setup removes statics no longer configured, keeps run state, keeps entries added at run time', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('setup');
    const s = store(prefix);
    await s.setup([def('a', schedule(10)), def('b', schedule(10))], 1_000_000);
    await s.save(def('dyn', schedule(5)));
    const a = (await s.get('a'))!;
    await s.claim([request(a, 2_000_000)]);
    await s.setup([def('a', schedule(20), { task: 'tasks.changed' })], 3_000_000);
    const names = (await s.list()).map((e) => e.name).sort();
    assert.deepEqual(names, ['a', 'dyn']);
    const a2 = (await s.get('a'))!;
    assert.deepEqual([a2.task, a2.lastRunAt, a2.totalRunCount, a2.schedule.toJSON()], ['tasks.changed', 2_000_000, 1, { type: 'interval', every: 20, relative: false }]);
    assert.equal(Number(await client.zscore(`${prefix}:schedule`, `${prefix}a`)), 2_020);
    const { result } = await py(prefix, 'load', { names: ['a', 'b'] });
    assert.equal(result.a.task, 'tasks.changed');
    assert.match(result.b.error, /KeyError/);
  });

  test('setEnabled rewrites definition.enabled: Python sees it disabled (is_due (False, 5.0)) and enabled again', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('enable');
    const s = store(prefix);
    await s.save(def('e', schedule(10)));
    assert.equal(await s.setEnabled('e', false), true);
    assert.deepEqual((await py(prefix, 'load', { names: ['e'] })).result.e.is_due, [false, 5.0]);
    await s.setEnabled('e', true);
    assert.equal((await py(prefix, 'load', { names: ['e'] })).result.e.enabled, true);
    assert.equal(await s.setEnabled('nope', true), false);
  });

  test('schedules RedBeat cannot hold are refused in a shared store; stored celeriac-only, they would crash Python', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('solar');
    const solar = stub({ type: 'solar', event: 'sunset', lat: 52.5, lon: 13.4 });
    await assert.rejects(store(prefix).save(def('sun', solar)), UnrepresentableScheduleError);
    await assert.rejects(store(prefix).setup([def('tokyo', crontab({ minute: 0, timezone: 'Asia/Tokyo' }))], Date.now()), UnrepresentableScheduleError);
    assert.equal(await client.exists(`${prefix}sun`, `${prefix}tokyo`, `${prefix}:statics`), 0); // nothing written
    const own = store(prefix, { redbeatCompatible: false });
    await own.save(def('sun', solar));
    assert.deepEqual((await own.get('sun'))!.schedule.toJSON(), solar.toJSON());
    const { result } = await py(prefix, 'load', { names: ['sun'] });
    assert.match(result.sun.error, /AttributeError: 'dict' object has no attribute 'app'/);
  });
});

describe('claims', () => {
  test('a stale lastRunAt or an already-claimed slot is refused; a change by Python too', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('claim');
    const s = store(prefix);
    await s.setup([def('c', schedule(10))], 1_000_000);
    const read = (await s.get('c'))!;
    const first = request(read, 1_010_000);
    assert.equal((await s.claim([first])).length, 1);
    // a second beat that read before the claim: stale lastRunAt
    assert.deepEqual(await s.claim([request(read, 1_010_500)]), []);
    assert.equal(s.refused[2], 1);
    // the same slot again from the fresh state: the entry's last claimed slot refuses it
    const fresh = (await s.get('c'))!;
    assert.deepEqual(await s.claim([{ ...request(fresh, 1_020_000), slot: first.slot, taskId: first.taskId }]), []);
    assert.equal(s.refused[3], 1);
    assert.equal(await client.hget(`${prefix}c`, 'celeriac_claimed'), String(first.slot));
    // Python changes the run state between our read and our claim
    await py(prefix, 'reschedule', { name: 'c', last_run_at: 1_015 });
    assert.deepEqual(await s.claim([request(fresh, 1_030_000)]), []);
    assert.equal(s.refused[2], 2);
  });

  test('the script compares the meta itself: a change between the read and the claim script is refused', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('race');
    const s0 = store(prefix);
    await s0.setup([def('r', schedule(10))], 1_000_000);
    const entry = (await s0.get('r'))!;
    // a client whose claim script runs just after another beat (here: Python's format, same instant) wrote the meta
    const racing = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'eval') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<Redis['eval']>) => {
          await target.hset(`${prefix}r`, 'meta', '{"last_run_at": {"__type__": "datetime", "year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 16, "second": 50, "microsecond": 0, "timezone": "UTC"}, "total_run_count": 9}');
          return target.eval(...args);
        };
      },
    });
    const s = store(prefix, { client: racing });
    assert.deepEqual(await s.claim([request(entry, 1_010_000)]), []);
    assert.equal(s.refused[2], 1);
    assert.equal((await s0.get('r'))!.totalRunCount, 9);
    assert.deepEqual(await s0.pending(), []);
  });

  test('fenced: a claim is refused unless the lock key holds our token', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('fence');
    const lock = new LeaderLock(client, { key: `${prefix}:lock`, timeoutMs: 10_000 });
    const s = store(prefix, { lock });
    await s.setup([def('f', schedule(10))], 1_000_000);
    const entry = (await s.get('f'))!;
    assert.deepEqual(await s.claim([request(entry, 1_010_000)]), []); // no lock at all
    const other = (await py(prefix, 'lock', { key: `${prefix}:lock`, timeout: 10, action: 'acquire' })).result;
    assert.equal(other.ok, true);
    assert.deepEqual(await s.claim([request(entry, 1_010_000)]), []); // Python leads
    assert.equal(s.refused[4], 2);
    assert.equal((await s.get('f'))!.totalRunCount, 0);
    await py(prefix, 'lock', { key: `${prefix}:lock`, timeout: 10, action: 'release', token: other.token });
    assert.equal(await lock.acquire(), true);
    assert.equal((await s.claim([request(entry, 1_010_000)])).length, 1);
  });

  test('pending: claimed slots until sent, oldest first, visible to a restarted store', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('pending');
    let now = 5_000_000;
    const s = store(prefix, { now: () => now });
    await s.setup([def('p1', schedule(10), { args: [2n ** 64n, 'x'], kwargs: { when: new Date(Date.UTC(2026, 0, 1)) } }), def('p2', schedule(10))], 1_000_000);
    const [c1] = await s.claim([request((await s.get('p2'))!, 1_010_000)]);
    now = 4_000_000;
    const [c2] = await s.claim([request((await s.get('p1'))!, 1_010_000)]);
    const restarted = store(prefix);
    const pending = await restarted.pending();
    assert.deepEqual(pending.map((c) => [c.name, c.claimedAt]), [['p1', 4_000_000], ['p2', 5_000_000]]);
    assert.deepEqual(pending[0]!.args, [2n ** 64n, 'x']);
    assert.equal((pending[0]!.kwargs.when as Date).getTime(), Date.UTC(2026, 0, 1));
    assert.equal(pending[0]!.taskId, c2!.taskId);
    await restarted.sent([c2!]);
    assert.deepEqual((await s.pending()).map((c) => c.taskId), [c1!.taskId]);
    await s.sent([c1!]);
    assert.deepEqual(await s.pending(), []);
  });
});

describe('the leader lock', () => {
  test('Python RedBeat\'s lock and ours exclude each other; our renew fails once Python took over', async (t) => {
    if (!requireRedBeat(t)) return;
    const prefix = freshPrefix('lock');
    const key = `${prefix}:lock`;
    const py1 = (await py(prefix, 'lock', { key, timeout: 10, action: 'acquire' })).result;
    assert.equal(py1.ok, true);
    const ours = new LeaderLock(client, { key, timeoutMs: 4_000 });
    assert.equal(await ours.acquire(), false);
    assert.equal(ours.heldUntil, 0);
    assert.deepEqual((await py(prefix, 'lock', { key, timeout: 10, action: 'release', token: py1.token })).result, { ok: true });

    assert.equal(await ours.acquire(), true);
    assert.equal(await client.get(key), ours.token);
    assert.equal(await ours.renew(), true);
    assert.ok((await client.pttl(key)) > 3_000);
    assert.equal((await py(prefix, 'lock', { key, timeout: 10, action: 'acquire' })).result.ok, false);
    // Python cannot extend or release a lock it does not hold
    assert.equal((await py(prefix, 'lock', { key, timeout: 10, action: 'extend', token: 'f'.repeat(32) })).result.error, 'LockNotOwnedError');

    while (await client.exists(key)) await new Promise((r) => setTimeout(r, 50)); // our lease lapses (no renew)
    assert.equal(ours.isHeld(), false);
    const py2 = (await py(prefix, 'lock', { key, timeout: 10, action: 'acquire' })).result;
    assert.equal(py2.ok, true);
    assert.equal(await ours.renew(), false);
    assert.equal(ours.heldUntil, 0);
    await ours.release(); // must not delete Python's lock
    assert.equal(await client.get(key), py2.token);
    // Python's RedBeat extends its own lock with RedBeat's extend-to script
    assert.deepEqual((await py(prefix, 'lock', { key, timeout: 10, action: 'extend', token: py2.token })).result, { ok: true });
  });

  test('heldUntil counts from when the acquire or renew was sent, less the drift allowance', async () => {
    const prefix = freshPrefix('held');
    let clock = 1_000;
    const lock = new LeaderLock(client, { key: `${prefix}:lock`, timeoutMs: 10_000, clock: () => clock });
    const acquiring = lock.acquire();
    clock = 5_000; // the answer comes late: the lease still counts from the send
    assert.equal(await acquiring, true);
    assert.equal(lock.heldUntil, 1_000 + 10_000 - 102);
    assert.equal(lock.isHeld(), true);
    clock = 10_899;
    assert.equal(lock.isHeld(), false);
    assert.equal(await lock.renew(), true);
    assert.equal(lock.heldUntil, 10_899 + 10_000 - 102);
    assert.equal(await lock.acquire(), true); // re-acquiring a lease we hold extends it
    await lock.release();
    assert.equal(await client.exists(`${prefix}:lock`), 0);
    assert.equal(lock.heldUntil, 0);
  });
});
