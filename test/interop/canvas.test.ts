// Canvas across languages: real Celery 5.6 workers and a celeriac worker share one Redis (db 3).
// `cpy.*` tasks run in Python (queue PYQ), `cts.*` in TypeScript (queue TSQ); built-ins go to the
// default queue, served by the TypeScript worker. Workflows are built on either side.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { AsyncResult, GroupResult } from '../../src/result.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyValue } from '../../protocol/values.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { brokerMatrix, type BrokerCase } from '../helpers/matrix.ts';
import { fleetQueues, runFleetScript, startMixedFleet, type MixedFleet } from '../helpers/fleet.ts';

for (const b of brokerMatrix(3)) canvasSuite(b);

function canvasSuite(b: BrokerCase): void {
const URL = b.backendUrl;
const BROKER = b.brokerUrl;
/** The queues, and the environment of test/python/canvas_tasks.py (worker and scripts) for this broker. */
const { PYQ, TSQ, DEFQ, pyEnv, dropAmqpQueues } = fleetQueues('c', BROKER, URL, b.settings);

let app: Celery;
let fleet: MixedFleet | undefined;
let redis: Redis;
let skip = false;

type Rec = { lang: string; args: unknown[]; id: string; root_id: string; parent_id: string | null; group: string | null; group_index: number | null };

const sig = (name: string, args: PyValue[] = [], options: Record<string, unknown> = {}): SignatureDict => app.signature(name, args, {}, options as Record<string, PyValue>);
const py = <T = unknown>(code: string): Promise<T> => runFleetScript<T>('canvas_tasks', code);
async function notes(lang: 'py' | 'ts', key: string): Promise<unknown[]> {
  const k = lang === 'py' ? `canvas:${PYQ}:${key}` : `canvas:ts:${TSQ}:${key}`;
  return (await redis.lrange(k, 0, -1)).map((x) => JSON.parse(x));
}
async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
const get = (r: AsyncResult | GroupResult) => r.get({ timeout: 30 });

describe(`[${b.name}] canvas across Python Celery and TypeScript workers`, () => {
  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requirePython(probe as never)) return;
    // the suites of the matrix run one after the other: Python scripts inherit this suite's environment
    Object.assign(process.env, pyEnv());
    redis = new Redis(URL);
    app = new Celery({
      broker_url: BROKER, result_backend: URL, task_default_queue: DEFQ, env: {}, result_extended: true, ...b.settings,
      task_routes: { 'cpy.*': { queue: PYQ }, 'cts.*': { queue: TSQ } },
    });
    const note = (key: string, v: unknown) => redis.rpush(`canvas:ts:${TSQ}:${key}`, JSON.stringify(v));
    app.task('cts.add', (x: number, y: number = 0) => x + y);
    app.task('cts.mul', (x: number, y: number) => x * y);
    app.task('cts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('cts.identity', (x: unknown) => x);
    app.task('cts.fail', (..._args: unknown[]) => {
      throw new RangeError('ts boom');
    });
    app.task('cts.record', async (self: BoundTask, ...args: unknown[]) => {
      const r = self.request;
      const out = { lang: 'ts', args, id: r.id, root_id: r.root_id, parent_id: r.parent_id, group: r.group, group_index: r.group_index };
      await note('record', out);
      return out;
    }, { bind: true });
    app.task('cts.errback', async (taskId: string) => {
      await note('errback', taskId);
      return taskId;
    });
    app.task('cts.on_error', async (request: { id: string }, exc: Error, traceback: string | null) => {
      await note('on_error', { id: request.id, exc: exc.message, tb: typeof traceback });
    });
    // the queue the message that ran it came from (map/starmap call it inline: the built-in's message)
    app.task('cts.where', (self: BoundTask, ..._args: unknown[]) => self.request.delivery_info.routing_key, { bind: true });
    app.task('cts.count_body', async (values: number[]) => {
      await redis.incr(`canvas:ts:${TSQ}:body_calls`);
      return values;
    });
    app.task('cts.replace_with_chain', (self: BoundTask, x: number) =>
      self.replace(app.chain(sig('cpy.add', [x, 1]), sig('cts.mul', [10]))), { bind: true });
    app.task('cts.replace_with_group', (self: BoundTask, x: number) =>
      self.replace(app.group([sig('cpy.add', [x, 1]), sig('cts.add', [x, 2])])), { bind: true });
    fleet = await startMixedFleet(app, {
      module: 'canvas_tasks', pyQueue: PYQ, tsQueues: [TSQ, DEFQ], tsConcurrency: 32, pyConcurrency: 16, env: pyEnv(),
    });
  });

  after(async () => {
    if (skip) return;
    await fleet?.stop();
    await app?.close();
    await redis?.quit();
    if (b.name === 'amqp') await dropAmqpQueues();
  });

  test('chain Python -> TS -> Python built in TypeScript: values, parent links, root_id/parent_id', { skip }, async () => {
    const r = (await app.applyAsync(app.chain(sig('cpy.add', [1, 2]), sig('cts.mul', [10]), sig('cpy.add', [5])))) as AsyncResult;
    assert.equal(await get(r), 35);
    assert.equal(await (r.parent as AsyncResult).get(), 30);
    assert.equal(await (r.parent!.parent as AsyncResult).get(), 3);
    const rec = (await get((await app.applyAsync(app.chain(sig('cpy.record', [1]), sig('cts.record'), sig('cpy.record')))) as AsyncResult)) as Rec;
    const second = rec.args[0] as Rec;
    const first = second.args[0] as Rec;
    assert.deepEqual([first.lang, second.lang, rec.lang], ['py', 'ts', 'py']);
    assert.equal(second.parent_id, first.id);
    assert.equal(rec.parent_id, second.id);
    assert.deepEqual([first.root_id, second.root_id, rec.root_id], [first.id, first.id, first.id]);
  });

  test('chain TS -> Python -> TS built in Python', { skip }, async () => {
    const rec = await py<Rec>(`out = chain(ts('cts.record', 1), record.s(), ts('cts.record')).apply_async().get(timeout=30)`);
    const second = rec.args[0] as Rec;
    const first = second.args[0] as Rec;
    assert.deepEqual([first.lang, second.lang, rec.lang], ['ts', 'py', 'ts']);
    assert.equal(second.parent_id, first.id);
    assert.equal(rec.parent_id, second.id);
    assert.equal(rec.root_id, first.id);
    assert.equal(await py(`out = chain(ts('cts.add', 1, 2), mul.s(10), ts('cts.add', 5)).apply_async().get(timeout=30)`), 35);
  });

  test('group of mixed members: group id and index, GroupResult API', { skip }, async () => {
    const g = (await app.applyAsync(app.group([sig('cpy.record', [0]), sig('cts.record', [1]), sig('cpy.record', [2]), sig('cts.record', [3])]))) as GroupResult;
    assert.ok(g instanceof GroupResult);
    const recs = (await get(g)) as Rec[];
    assert.deepEqual(recs.map((x) => x.lang), ['py', 'ts', 'py', 'ts']);
    assert.deepEqual(recs.map((x) => x.group), [g.id, g.id, g.id, g.id]);
    assert.deepEqual(recs.map((x) => x.group_index), [0, 1, 2, 3]);
    assert.equal(await g.completedCount(), 4);
    assert.equal(await g.ready(), true);
    assert.equal(await g.successful(), true);
    assert.equal(await g.failed(), false);
    assert.deepEqual(await py(`out = group(add.s(1, 1), ts('cts.add', 2, 2), ts('cts.mul', 3, 3)).apply_async().get(timeout=30)`), [2, 4, 9]);
  });

  test('chords with mixed headers, callback in each language, built on each side', { skip }, async () => {
    const header = [0, 1, 2, 3, 4, 5].map((i) => sig(i % 2 ? 'cts.add' : 'cpy.add', [i, i]));
    const r1 = (await app.applyAsync(app.chord(header, sig('cts.tsum')))) as AsyncResult;
    assert.equal(await get(r1), 30);
    assert.ok(r1.parent instanceof GroupResult);
    assert.deepEqual(await get(r1.parent), [0, 2, 4, 6, 8, 10]);
    const r2 = (await app.applyAsync(app.chord(header, sig('cpy.identity')))) as AsyncResult;
    assert.deepEqual(await get(r2), [0, 2, 4, 6, 8, 10]);
    assert.equal(await py(`out = chord([add.s(i, i) if i % 2 else ts('cts.add', i, i) for i in range(6)], ts('cts.tsum')).apply_async().get(timeout=30)`), 30);
    assert.deepEqual(await py(`out = chord([add.s(i, i) if i % 2 else ts('cts.add', i, i) for i in range(6)], identity.s()).apply_async().get(timeout=30)`), [0, 2, 4, 6, 8, 10]);
  });

  test('link and link_error across languages, errbacks in both calling conventions', { skip }, async () => {
    const r = (await app.applyAsync(sig('cpy.add', [2, 3], { link: [sig('cts.record')] }))) as AsyncResult;
    assert.equal(await get(r), 5);
    const cb = await waitFor(async () => ((await notes('ts', 'record')) as Rec[]).find((x) => x.parent_id === r.id));
    assert.deepEqual(cb.args, [5]);
    const pyId = await py<string>(`r = add.apply_async((4, 4), link=ts('cts.record')); r.get(timeout=30); out = r.id`);
    const cb2 = await waitFor(async () => ((await notes('ts', 'record')) as Rec[]).find((x) => x.parent_id === pyId));
    assert.deepEqual(cb2.args, [8]);
    // a Python task fails: its TypeScript errback gets the failed task id (old style)
    const f = (await app.applyAsync(sig('cpy.fail', [], { link_error: [sig('cts.errback')] }))) as AsyncResult;
    await assert.rejects(get(f), (e: PythonError) => e.excType === 'ValueError');
    await waitFor(async () => (await notes('ts', 'errback')).includes(f.id));
    // a TypeScript task fails: the TS new-style errback is called inline, the Python one is sent
    const t = (await app.applyAsync(sig('cts.fail', [], { link_error: [sig('cts.on_error'), sig('cpy.errback')] }))) as AsyncResult;
    await assert.rejects(get(t), (e: Error) => /ts boom/.test(e.message));
    const inline = await waitFor(async () => ((await notes('ts', 'on_error')) as { id: string; exc: string; tb: string }[]).find((x) => x.id === t.id));
    assert.equal(inline.exc, 'ts boom');
    assert.equal(inline.tb, 'string');
    await waitFor(async () => (await notes('py', 'errback')).includes(t.id));
  });

  test('map, starmap and chunks built in one language and run in the other', { skip }, async () => {
    const add = app.task('cpy.add');
    assert.deepEqual(await get((await app.applyAsync(add.starmap([[1, 2], [3, 4]]))) as AsyncResult), [3, 7]);
    assert.deepEqual(await get((await app.applyAsync(app.task('cpy.identity').map([1, 'a', null]))) as AsyncResult), [1, 'a', null]);
    // chunks members are celery.starmap routed by that name (Celery's clone() drops xstarmap): the default queue
    const chunks = (await app.applyAsync(app.task('cts.add').chunks([[0, 0], [1, 1], [2, 2], [3, 3]], 2))) as GroupResult;
    assert.deepEqual(await get(chunks), [[0, 2], [4, 6]]);
    assert.deepEqual(await py(`from celery.canvas import xmap, xstarmap, chunks
out = [xstarmap(ts('cts.add'), [(1, 2), (3, 4)]).apply_async().get(timeout=30),
       xmap(ts('cts.identity'), [1, 2]).apply_async().get(timeout=30),
       chunks(ts('cts.add'), [(i, i) for i in range(4)], 2).apply_async().get(timeout=30)]`), [[3, 7], [1, 2], [[0, 2], [4, 6]]]);
  });

  test('nested workflows: group | sig upgraded to a chord, a chord inside a chain (both sides)', { skip }, async () => {
    const upgraded = app.chain(sig('cpy.add', [1, 1]), app.group([sig('cts.add', [1]), sig('cpy.add', [2])]), sig('cts.tsum'));
    assert.equal(await get((await app.applyAsync(upgraded)) as AsyncResult), 7);
    const inner = app.chain(sig('cts.add', [1, 1]), app.chord([sig('cpy.add', [1]), sig('cts.add', [2])], sig('cpy.tsum')), sig('cts.mul', [10]));
    const r = (await app.applyAsync(inner)) as AsyncResult;
    assert.equal(await get(r), 70);
    assert.equal(await py(`out = chain(add.s(1, 1), chord([ts('cts.add', 1), add.s(2)], ts('cts.tsum')), ts('cts.mul', 10)).apply_async().get(timeout=30)`), 70);
    assert.equal(await py(`out = chain(ts('cts.add', 1, 1), group(add.s(1), ts('cts.add', 2)), tsum.s()).apply_async().get(timeout=30)`), 7);
    // a chain ending in a group returns the group's result (prepare_steps' results[0])
    assert.deepEqual(await py(`out = chain(ts('cts.add', 1, 1), group(add.s(1), ts('cts.add', 2))).apply_async().get(timeout=30)`), [3, 4]);
  });

  test('a failing member: chord header (ChordError to the body errbacks), chain step, group member', { skip }, async () => {
    const body = sig('cpy.tsum', [], { link_error: [sig('cts.errback')] });
    const r = (await app.applyAsync(app.chord([sig('cpy.add', [1, 1]), sig('cts.fail'), sig('cts.add', [2, 2])], body))) as AsyncResult;
    // get() follows parents first (the header's failure), as Celery's does; the body itself holds the ChordError
    await assert.rejects(get(r), (e: Error) => /ts boom/.test(e.message));
    await assert.rejects(r.get({ timeout: 30, followParents: false }), (e: PythonError) => e.excType === 'ChordError' && /Dependency .* raised \w+Error\('ts boom'\)/.test(e.message));
    await waitFor(async () => (await notes('ts', 'errback')).includes(r.id));
    const pyOut = await py<[string, string, string]>(`r = chord([add.s(1, 1), fail.s(), ts('cts.add', 2, 2)], ts('cts.tsum').on_error(errback.s())).apply_async()
try:
    r.get(timeout=30, follow_parents=False)
except Exception as e:
    out = [type(e).__name__, str(e), r.id]`);
    assert.equal(pyOut[0], 'ChordError');
    assert.match(pyOut[1], /ValueError\('py boom'\)/);
    await waitFor(async () => (await notes('py', 'errback')).includes(pyOut[2]));
    const c = (await app.applyAsync(app.chain(sig('cpy.add', [1, 1]), sig('cts.fail'), sig('cpy.add', [1])))) as AsyncResult;
    await assert.rejects(get(c), (e: Error) => /ts boom/.test(e.message));
    // get() rejects at the failed step's record; the remaining step's FAILURE is stored just after it
    // (mark_as_failure's order, Celery's too)
    await waitFor(async () => (await c.state()) !== 'PENDING');
    assert.equal(await c.state(), 'FAILURE');
    const g = (await app.applyAsync(app.group([sig('cpy.fail'), sig('cts.add', [1, 1])]))) as GroupResult;
    await assert.rejects(get(g));
    assert.equal(await g.failed(), true);
    // get() raised at the first failure (as Celery's join): the other member may still be running
    await waitFor(() => g.ready());
    assert.equal(await g.completedCount(), 1);
  });

  test('replace: a task replaced by a chain and by a group, in each language', { skip }, async () => {
    assert.equal(await get((await app.applyAsync(sig('cts.replace_with_chain', [1]))) as AsyncResult), 20);
    assert.deepEqual(await get((await app.applyAsync(sig('cts.replace_with_group', [1]))) as AsyncResult), [2, 3]);
    const chained = app.chain(sig('cpy.add', [1, 0]), sig('cts.replace_with_chain'), sig('cpy.add', [1]));
    assert.equal(await get((await app.applyAsync(chained)) as AsyncResult), 21);
    assert.equal(await py(`out = chain(add.s(1, 0), signature('cpy.replace_with_chain'), ts('cts.add', 1)).apply_async().get(timeout=30)`), 21);
  });

  test('chords without native support: celery.chord_unlock polls the header (sent by TS and by Python)', { skip }, async () => {
    // the same Redis backend seen through a wrapper: not a RedisBackend, so no native chords (fallback_chord_unlock)
    const plain = new Celery({
      broker_url: BROKER, result_backend: URL, task_default_queue: DEFQ, env: {}, ...b.settings,
      task_routes: { 'cpy.*': { queue: PYQ }, 'cts.*': { queue: TSQ } },
      createBackend: () => {
        const real = app.backend as unknown as Record<string | symbol, unknown>;
        return new Proxy({}, { get: (_t, k) => (k === 'close' ? async () => undefined : typeof real[k] === 'function' ? (real[k] as (...a: unknown[]) => unknown).bind(real) : real[k]) }) as never;
      },
    });
    try {
      const header = [1, 2, 3].map((i) => sig(i % 2 ? 'cpy.add' : 'cts.add', [i, i]));
      const r = (await plain.applyAsync(plain.chord(header, sig('cts.tsum')))) as AsyncResult;
      assert.equal(await r.get({ timeout: 30 }), 12);
      assert.equal(await redis.exists(`celery-taskset-meta-${r.parent!.id}.s`), 0);
    } finally {
      await plain.close();
    }
    const out = await py<number>(`g = group(add.s(1, 1), ts('cts.add', 2, 2)).apply_async()
body = ts('cts.tsum').freeze()
body_sig = ts('cts.tsum').set(task_id=body.id)
app.tasks['celery.chord_unlock'].apply_async((g.id, body_sig), {'result': [x.as_tuple() for x in g.results]}, countdown=0)
out = app.AsyncResult(body.id).get(timeout=30)`);
    assert.equal(out, 6);
  });

  test('map/starmap: applied directly routed by the inner task; from a worker (link, chain step), a group or chunks by celery.map/celery.starmap', { skip }, async () => {
    const where = app.task('cts.where');
    // the caller's own task.map(): _basemap.apply_async(route_name=<inner task>)
    assert.deepEqual(await get((await app.applyAsync(where.map([1]))) as AsyncResult), [TSQ]);
    assert.deepEqual(await py(`from celery.canvas import xmap
out = xmap(ts('cts.where'), [1]).apply_async().get(timeout=30)`), [TSQ]);
    // a chain step sent by the TS worker and by the Python worker: signature(dict) -> celery.map's own route
    assert.deepEqual(await get((await app.applyAsync(app.chain(sig('cts.add', [1, 1]), where.map([1])))) as AsyncResult), [DEFQ]);
    assert.deepEqual(await get((await app.applyAsync(app.chain(sig('cpy.add', [1, 1]), where.starmap([[]])))) as AsyncResult), [DEFQ]);
    assert.deepEqual(await py(`from celery.canvas import xmap
out = chain(add.s(1, 1), xmap(ts('cts.where'), [1])).apply_async().get(timeout=30)`), [DEFQ]);
    // a link callback sent by the TS worker
    const linkId = uniqueName('link');
    const cb = { ...where.starmap([[]]), options: { task_id: linkId } };
    await get((await app.applyAsync(sig('cts.add', [1, 1], { link: [cb] }))) as AsyncResult);
    assert.deepEqual(await app.resultOf([[linkId, null], null] as never).get({ timeout: 30 }), [DEFQ]);
    // a group member (cloned: a plain Signature in Celery)
    assert.deepEqual(await get((await app.applyAsync(app.group([where.map([1]), sig('cts.where')]))) as GroupResult), [[DEFQ], TSQ]);
    assert.deepEqual(await py(`from celery.canvas import xmap
out = group(xmap(ts('cts.where'), [1]), ts('cts.where')).apply_async().get(timeout=30)`), [[DEFQ], TSQ]);
  });

  test('several link callbacks, one a group: the group is applied on its own, the rest as one group; children as Celery stores them', { skip }, async () => {
    const meta = async (id: string) => JSON.parse((await redis.get(`celery-task-meta-${id}`))!) as { children: unknown[] };
    const links = (lang: 'ts' | 'py'): SignatureDict[] => [app.group([sig('cts.record', [lang]), sig('cpy.record', [lang])]), sig('cts.record', [lang]), sig('cpy.record', [lang])];
    const shapeOf = async (id: string) => {
      const recs = await waitFor(async () => {
        const all = [...(await notes('ts', 'record')), ...(await notes('py', 'record'))] as Rec[];
        const mine = all.filter((x) => x.parent_id === id);
        return mine.length === 4 ? mine : null;
      });
      const children = (await meta(id)).children as [[string, null], [[string, null], null][]][];
      // two GroupResult children: the group callback, then the other callbacks as one group
      assert.equal(children.length, 2);
      const [g1, g2] = children;
      assert.deepEqual(g1![1].map((m) => m[0][0]).sort(), recs.filter((x) => x.group === g1![0][0]).map((x) => x.id).sort());
      assert.deepEqual(g2![1].map((m) => m[0][0]).sort(), recs.filter((x) => x.group === g2![0][0]).map((x) => x.id).sort());
      return recs.map((x) => [x.group === g1![0][0] ? 'g1' : 'g2', x.group_index, x.lang, x.args.length]).sort();
    };
    const r = (await app.applyAsync(sig('cts.add', [1, 2], { link: links('ts') }))) as AsyncResult;
    assert.equal(await get(r), 3);
    const tsShape = await shapeOf(r.id);
    const pyId = await py<string>(`r = add.apply_async((1, 2), link=[group(ts('cts.record', 'py'), record.s('py')), ts('cts.record', 'py'), record.s('py')])
r.get(timeout=30)
out = r.id`);
    const pyShape = await shapeOf(pyId);
    assert.deepEqual(tsShape, pyShape);
    assert.deepEqual(tsShape, [['g1', 0, 'ts', 2], ['g1', 1, 'py', 2], ['g2', 0, 'ts', 2], ['g2', 1, 'py', 2]]);
  });

  test('settings: result_chord_join_timeout (3.0) and task_allow_error_cb_on_chord_header (false) as in Celery', { skip }, async () => {
    assert.equal(app.conf.resultChordJoinTimeout, 3);
    assert.equal(app.conf.taskAllowErrorCbOnChordHeader, false);
    const eb = sig('cts.errback');
    for (const allow of [false, true]) {
      const a = new Celery({ broker_url: BROKER, result_backend: URL, env: {}, task_allow_error_cb_on_chord_header: allow, result_chord_join_timeout: 0.5 });
      try {
        assert.equal(a.conf.resultChordJoinTimeout, 0.5);
        const c = a.chord([sig('cpy.add', [1, 1]), a.chord([sig('cts.add', [1, 1])], sig('cts.tsum')), a.group([sig('cts.add', [2, 2])])], sig('cpy.tsum'));
        const mine = a.linkError(c, eb);
        const theirs = await py<SignatureDict>(`app.conf.task_allow_error_cb_on_chord_header = ${allow ? 'True' : 'False'}
import warnings
warnings.simplefilter('ignore')
from kombu.utils.json import dumps, loads
c = chord([add.s(1, 1), chord([ts('cts.add', 1, 1)], ts('cts.tsum')), group(ts('cts.add', 2, 2))], tsum.s())
c.link_error(errback.s())
out = loads(dumps(c))`);
        // Python's errback is cpy.errback; compare with ours by renaming
        assert.deepEqual(JSON.parse(JSON.stringify(mine).replaceAll('cts.errback', 'cpy.errback')), theirs);
      } finally {
        await a.close();
      }
    }
  });

  test('celery.chunks / celery.chord / celery.group built-ins store what Celery stores (result tuples, children)', { skip }, async () => {
    const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const shape = (v: unknown): unknown => (Array.isArray(v) ? v.map(shape) : typeof v === 'string' && ID.test(v) ? 'ID' : v);
    const run = async (queue: string) => {
      const out: Record<string, unknown> = {};
      const chunks = await app.sendTask('celery.chunks', [], { task: sig('cts.add') as never, it: [[1, 2], [3, 4], [5, 6]], n: 2 }, { queue });
      const chordR = await app.sendTask('celery.chord', [], { header: [sig('cts.add', [1, 1]), sig('cpy.add', [2, 2])] as never, body: sig('cts.tsum') as never }, { queue });
      const groupR = await app.sendTask('celery.group', [], { tasks: [sig('cts.add', [1, 1])] as never, result: [['00000000-0000-0000-0000-000000000001', null], [[['00000000-0000-0000-0000-000000000002', null], null]]], group_id: '00000000-0000-0000-0000-000000000001', partial_args: [] }, { queue });
      for (const [k, r] of [['chunks', chunks], ['chord', chordR], ['group', groupR]] as const) {
        await r.get({ timeout: 30 });
        const m = JSON.parse((await redis.get(`celery-task-meta-${r.id}`))!) as { status: string; result: unknown; children: unknown[] };
        out[k] = { status: m.status, result: shape(m.result), children: shape(m.children) };
        if (k === 'chord') assert.deepEqual(m.children[0], (m.result as unknown[][])[0]![1]);
        if (k === 'chunks') assert.deepEqual(m.children[0], m.result);
      }
      return out;
    };
    const ts = await run(DEFQ);
    const pyOut = await run(PYQ);
    assert.deepEqual(ts, pyOut);
    assert.deepEqual((ts['chunks'] as { result: unknown }).result, [['ID', null], [[['ID', null], null], [['ID', null], null]]]);
    assert.deepEqual((ts['chord'] as { result: unknown }).result, [['ID', [['ID', null], [[['ID', null], null], [['ID', null], null]]]], null]);
  });

  test('a chord of 1,000 mixed header tasks completes exactly once, results in header order', { skip, timeout: 180_000 }, async () => {
    const header = Array.from({ length: 1000 }, (_, i) => sig(i % 2 ? 'cts.identity' : 'cpy.identity', [i]));
    const r = (await app.applyAsync(app.chord(header, sig('cts.count_body')))) as AsyncResult;
    const values = (await r.get({ timeout: 150 })) as number[];
    assert.deepEqual(values, Array.from({ length: 1000 }, (_, i) => i));
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(await redis.get(`canvas:ts:${TSQ}:body_calls`), '1');
  });
});
}
