// Celery's trail (`add_to_parent` / `add_trail`) across languages: the same scenario task runs once on a
// real Celery 5.6 worker (`chpy.*`, queue PYQ) and once on a celeriac worker (`chts.*`, queue TSQ); what
// each stores as `children` (result meta in Redis db 3, `AsyncResult(id).children` read from Python and
// from TypeScript) must have the same shape. Ids differ: they are numbered in order of appearance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { AsyncResult, GroupResult } from '../../src/result.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyValue } from '../../protocol/values.ts';
import { requirePython } from '../helpers/peers.ts';
import { brokerMatrix, type BrokerCase } from '../helpers/matrix.ts';
import { fleetQueues, runFleetScript, startMixedFleet, type MixedFleet } from '../helpers/fleet.ts';

for (const b of brokerMatrix(3)) childrenSuite(b);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The value with every uuid replaced by `#n` (n: order of first appearance; `self` for `own`). */
function shape(v: unknown, own: string, ids = new Map<string, string>()): unknown {
  if (typeof v === 'string' && UUID.test(v)) {
    if (v === own) return 'self';
    if (!ids.has(v)) ids.set(v, `#${ids.size}`);
    return ids.get(v);
  }
  if (Array.isArray(v)) return v.map((x) => shape(x, own, ids));
  return v;
}

/** `AsyncResult.children` as [kind, id, parent | members], the same walk as children_tasks.py's. */
function resultShape(r: AsyncResult | GroupResult): unknown {
  if (r instanceof GroupResult) return ['group', r.id, r.results.map(resultShape)];
  return ['task', r.id, r.parent ? resultShape(r.parent) : null];
}

function childrenSuite(b: BrokerCase): void {
const URL = b.backendUrl;
const BROKER = b.brokerUrl;
const { PYQ, TSQ, DEFQ, pyEnv, dropAmqpQueues } = fleetQueues('ch', BROKER, URL, b.settings);

let app: Celery;
let fleet: MixedFleet | undefined;
let redis: Redis | undefined;
let skip = false;

type Lang = 'py' | 'ts';
const LANGS: Lang[] = ['py', 'ts'];
const prefix = (lang: Lang) => (lang === 'py' ? 'chpy' : 'chts');
const sig = (lang: Lang, name: string, args: PyValue[] = [], immutable = false): SignatureDict =>
  ({ ...app.signature(`${prefix(lang)}.${name}`, args), immutable });

const py = <T = unknown>(code: string): Promise<T> => runFleetScript<T>('children_tasks', code);
async function storedMeta(id: string): Promise<{ status: string; children: unknown }> {
  const end = Date.now() + 30_000;
  for (;;) {
    const raw = await redis!.get(`celery-task-meta-${id}`);
    const m = raw ? (JSON.parse(raw) as { status: string; children: unknown }) : null;
    if (m && (m.status === 'SUCCESS' || m.status === 'FAILURE')) return m;
    if (Date.now() > end) throw new Error(`no result for ${id}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Everything that shows a task's children: the stored meta, TS's AsyncResult.children(), Python's. */
async function childrenViews(id: string): Promise<{ status: string; meta: unknown; ts: unknown; py: unknown }> {
  const m = await storedMeta(id);
  const tsChildren = await app.AsyncResult(id).children();
  const pyChildren = await py(`
from celery.result import GroupResult
def shape(r):
    if isinstance(r, GroupResult):
        return ["group", r.id, [shape(x) for x in r.results]]
    return ["task", r.id, shape(r.parent) if r.parent else None]
c = AsyncResult(${JSON.stringify(id)}, app=app).children
out = None if c is None else [shape(x) for x in c]
`);
  return {
    status: m.status,
    meta: shape(m.children, id),
    ts: shape(tsChildren === null ? null : tsChildren.map(resultShape), id),
    py: shape(pyChildren, id),
  };
}

/** Runs `start` for both languages and returns each one's views of the task's children. */
async function both(start: (lang: Lang) => Promise<string>): Promise<Record<Lang, Awaited<ReturnType<typeof childrenViews>>>> {
  const ids = { py: await start('py'), ts: await start('ts') };
  return { py: await childrenViews(ids.py), ts: await childrenViews(ids.ts) };
}

const T = (i: number) => [[`#${i}`, null], null];
const G = (g: number, ...members: unknown[]) => [[`#${g}`, null], members];

describe(`[${b.name}] children: what a running task sends, stored as Celery stores it`, () => {
  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requirePython(probe as never)) return;
    // the suites of the matrix run one after the other: Python scripts inherit this suite's environment
    Object.assign(process.env, pyEnv());
    redis = new Redis(URL);
    app = new Celery({
      broker_url: BROKER, result_backend: URL, task_default_queue: DEFQ, env: {}, ...b.settings,
      task_routes: { 'chpy.*': { queue: PYQ }, 'chts.*': { queue: TSQ } },
    });
    const leaf = app.task('chts.leaf', (...args: number[]) => args.reduce((a, x) => a + x, 0));
    app.task('chts.tsum', (values: number[]) => values.reduce((a, x) => a + x, 0));
    const s = (name: string, args: PyValue[]) => sig('ts', name, args);
    app.task('chts.scenario', async (kind: string) => {
      switch (kind) {
        case 'none': break;
        case 'one': await leaf.delay(1); break;
        case 'two': await leaf.delay(1); await leaf.applyAsync([2]); break;
        case 'send_task': await app.sendTask('chts.leaf', [1]); break;
        case 'not_added':
          await leaf.applyAsync([1], {}, { add_to_parent: false });
          await app.sendTask('chts.leaf', [2], {}, { addToParent: false });
          await app.applyAsync(app.group([s('leaf', [3]), s('leaf', [4])]), [], {}, { add_to_parent: false });
          break;
        case 'group': await app.applyAsync(app.group([s('leaf', [1]), s('leaf', [2])])); break;
        case 'chain': await app.applyAsync(app.chain(s('leaf', [1]), s('leaf', [2]), s('leaf', [3]))); break;
        case 'chain_in_group': await app.applyAsync(app.group([app.chain(s('leaf', [1]), s('leaf', [2])), s('leaf', [3])])); break;
        case 'chord': await app.applyAsync(app.chord([s('leaf', [1]), s('leaf', [2])], s('tsum', []))); break;
        case 'fail': await leaf.delay(1); throw new Error('failed after sending');
        default: throw new Error(`unknown scenario ${kind}`);
      }
      return kind;
    });
    app.task('chts.retry_once', async (self: BoundTask) => {
      if (self.request.retries === 0) {
        await leaf.delay(1);
        return self.retry({ countdown: 3 });
      }
      return 'retried';
    }, { bind: true });
    fleet = await startMixedFleet(app, {
      module: 'children_tasks', pyQueue: PYQ, tsQueues: [TSQ, DEFQ], tsConcurrency: 16, pyConcurrency: 8, env: pyEnv(),
    });
  });

  after(async () => {
    if (skip) return;
    await fleet?.stop();
    await app?.close();
    await redis?.quit();
    if (b.name === 'amqp') await dropAmqpQueues();
  });

  const expected: Record<string, unknown> = {
    none: [],
    one: [T(0)],
    two: [T(0), T(1)],
    send_task: [T(0)],
    not_added: [],
    group: [G(0, T(1), T(2))],
    // a chain adds its first step (sent by the chain with add_to_parent), without parents
    chain: [T(0)],
    // a group member that is a chain: its last step, with its parents (the frozen result)
    chain_in_group: [G(0, [[`#1`, T(2)], null], T(3))],
    // a chord: its header GroupResult
    chord: [G(0, T(1), T(2))],
    fail: [T(0)],
  };
  for (const [kind, want] of Object.entries(expected)) {
    test(`scenario ${kind}: the same children on both workers, and as Celery stores them`, async (t) => {
      if (skip) return t.skip();
      const views = await both(async (lang) => (await app.sendTask(`${prefix(lang)}.scenario`, [kind])).id);
      assert.deepEqual(views.ts, views.py);
      assert.equal(views.py.status, kind === 'fail' ? 'FAILURE' : 'SUCCESS');
      assert.deepEqual(views.py.meta, want);
      // AsyncResult.children, read from Python and from TypeScript, show the stored children
      for (const lang of LANGS) assert.deepEqual(views[lang].ts, views[lang].py);
    });
  }

  test('retry: the RETRY record lists what the task sent and the retry itself (same id); the next run starts a new trail', async (t) => {
    if (skip) return t.skip();
    const ids = { py: (await app.sendTask('chpy.retry_once')).id, ts: (await app.sendTask('chts.retry_once')).id };
    const retryShape = async (id: string) => {
      const end = Date.now() + 20_000;
      for (;;) {
        const raw = await redis!.get(`celery-task-meta-${id}`);
        const m = raw ? (JSON.parse(raw) as { status: string; children: unknown }) : null;
        if (m?.status === 'RETRY') return shape(m.children, id);
        if (Date.now() > end) throw new Error(`${id} never stored RETRY (last: ${m?.status ?? 'nothing'})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const seen = { py: await retryShape(ids.py), ts: await retryShape(ids.ts) };
    assert.deepEqual(seen.ts, seen.py);
    assert.deepEqual(seen.py, [T(0), [['self', null], null]]);
    for (const lang of LANGS) {
      const m = await storedMeta(ids[lang]);
      assert.equal(m.status, 'SUCCESS');
      assert.deepEqual(m.children, []);
    }
  });

  test('a task with a link callback that also sends a task: its own child first, then the callback', async (t) => {
    if (skip) return t.skip();
    const one = await both(async (lang) => (await app.sendTask(`${prefix(lang)}.scenario`, ['one'], {}, { link: sig(lang, 'leaf', [9], true) })).id);
    assert.deepEqual(one.ts, one.py);
    assert.deepEqual(one.py.meta, [T(0), T(1)]);
    // several callbacks: one group of them (a GroupResult child) after the task's own
    const two = await both(async (lang) => (await app.sendTask(`${prefix(lang)}.scenario`, ['one'], {}, {
      link: [sig(lang, 'leaf', [9], true), sig(lang, 'leaf', [8], true)],
    })).id);
    assert.deepEqual(two.ts, two.py);
    assert.deepEqual(two.py.meta, [T(0), G(1, T(2), T(3))]);
  });

  test('a chain step that sends a task: what it sent, then the next step; the step before has the step as child', async (t) => {
    if (skip) return t.skip();
    const steps: Record<Lang, string[]> = { py: [], ts: [] };
    for (const lang of LANGS) {
      const r = await app.applyAsync(app.chain(sig(lang, 'leaf', [1]), sig(lang, 'scenario', ['one'], true), sig(lang, 'leaf', [5], true)));
      assert.ok(r instanceof AsyncResult && r.parent instanceof AsyncResult && r.parent.parent instanceof AsyncResult);
      await r.get({ timeout: 30 });
      steps[lang] = [r.parent.parent.id, r.parent.id, r.id];
    }
    const views = { py: await Promise.all(steps.py.map(childrenViews)), ts: await Promise.all(steps.ts.map(childrenViews)) };
    assert.deepEqual(views.ts, views.py);
    for (const lang of LANGS) {
      const [first, mid, last] = steps[lang];
      const m = (i: number) => views[lang][i]!.meta;
      // the first step: the next step (the scenario task) is its only child
      assert.deepEqual(m(0), [[['#0', null], null]]);
      assert.deepEqual(shape((await storedMeta(first!)).children, first!, new Map([[mid!, 'mid']])), [[['mid', null], null]]);
      // the scenario step: the task it sent, then the last step
      assert.deepEqual(m(1), [T(0), T(1)]);
      assert.deepEqual((shape((await storedMeta(mid!)).children, mid!, new Map([[last!, 'last']])) as unknown[])[1], [['last', null], null]);
      assert.deepEqual(m(2), []);
    }
  });
});
}
