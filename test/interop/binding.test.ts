// Arguments bound as Python binds them (issue 12), proved against real Celery 5.6 on each broker of the
// matrix (results in Redis db 6, shared: unique queues, never FLUSHDB).
//
// Every `bpy.<name>` task of test/python/binding_tasks.py (a Python worker) has a TypeScript twin
// `bts.<name>` (a celeriac worker on its own queue) with the same parameters, each returning what it was
// bound to. Python callers (test/python/binding_peer.py: send_task, signature(...).apply_async(), a
// partial signature completed by apply_async, and canvas built in Python) make the same calls to both
// in one batch; then, pair by pair, with the Python task as the reference:
//   - the results (SUCCESS values equal);
//   - for wrong calls, what Python's AsyncResult.get() raises (TypeError, the same text);
//   - the whole stored record, field by field (ids, node names, queues and the bpy/bts prefix mapped to
//     roles; date_done by format; the traceback by its first and last line: the frames differ);
//   - the task-failed event as Celery's EventReceiver gets it (every field, same types; pid, clock and
//     timestamps by type; the traceback by its last line).
// The same through chain steps, chord bodies, link callbacks, old-style errbacks and the celery.starmap /
// celery.map built-ins; and with a sender that knows the next task (Celery's `typing` check runs in the
// sending worker). Last, the TypeScript producer: the same TypeError, thrown before sending, as Celery's
// producer-side check (`typing`), and `typing: false`.
//
// One Python worker (prefork: its thread pool loses task events on Redis, its solo pool dies on a wrong
// errback) and one TypeScript worker per broker; one peer run sends every call. Where outcomes differ,
// the failing assertion lists every difference. CELERIAC_BINDING_DUMP=/tmp/x writes what the peer
// printed (/tmp/x.<broker>.json) and the Python worker's log (/tmp/x.<broker>.log).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { kw } from '../../src/kwargs.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import { requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { fleetQueues } from '../helpers/fleet.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 6;
type Lang = 'bpy' | 'bts';
const LANGS: Lang[] = ['bpy', 'bts'];
const other = (l: Lang): Lang => (l === 'bpy' ? 'bts' : 'bpy');

class ValueError extends Error {
  override name = 'ValueError';
}

/** The TypeScript twins of test/python/binding_tasks.py. */
function registerTsTasks(app: Celery, options: { typing?: boolean } = {}): void {
  const o = options.typing === undefined ? {} : { typing: options.typing };
  app.task('bts.ident', (v: PyValue) => v, o);
  app.task('bts.add', (x: PyValue, y: PyValue) => ({ x, y }), o);
  app.task('bts.three', (a: PyValue, b: PyValue, c: PyValue) => ({ a, b, c }), o);
  app.task('bts.with_default', (x: PyValue, y: PyValue = 10) => ({ x, y }), o);
  app.task('bts.rest', (x: PyValue, ...args: PyValue[]) => ({ x, args }), o);
  // keyword-only values and **kwargs extras reach the function as one trailing object
  app.task('bts.kwonly', (x: PyValue, k: { flag: PyValue; mode?: PyValue }) => ({ x, flag: k.flag, mode: k.mode ?? 'a' }), { ...o, params: ['x', '*', 'flag', 'mode='] });
  app.task('bts.catch_all', (x: PyValue, kwargs: PyDict) => ({ x, kwargs }), { ...o, params: ['x', '**kwargs'] });
  app.task('bts.full', (a: PyValue, b: PyValue = 2, ...rest: PyValue[]) => {
    const { c, d = 4, ...kwargs } = rest.pop() as PyDict;
    return { a, b, args: rest, c: c!, d, kwargs };
  }, { ...o, params: ['a', 'b=', '*args', 'c', 'd=', '**kwargs'] });
  app.task('bts.bound', (self: BoundTask, x: PyValue, y: PyValue = 1) => ({ self: self.name.slice(self.name.lastIndexOf('.') + 1), x, y }), { ...o, bind: true });
  app.task('bts.fail', () => {
    throw new ValueError('parent failed');
  }, o);
  app.task('bts.errback', (taskId: PyValue, k: { tag: PyValue }) => ({ task_id: taskId, tag: k.tag }), { ...o, params: ['task_id', '*', 'tag'] });
  app.task('bts.swap', (self: BoundTask, x: PyValue, k: PyDict) => self.replace(app.signature('bts.add', [x], k)), { ...o, bind: true, params: ['x', '**kw'] });
}

// ---- the calls -------------------------------------------------------------------------------------------------

interface Case {
  key: string;
  task: string;
  args?: PyValue[];
  kwargs?: PyDict;
  /** A wrong call: Python's TypeError text (checked against Python's own outcome first). */
  error?: string;
  /**
   * Celery 5.6's worker names its stack-protection wrapper instead of the function when the wrong call
   * is a keyword named `self` to a bound task (the wrapper's own `self`): that text, for the Python worker.
   */
  celeryWorkerText?: string;
}

const CASES: Case[] = [
  // positional, keyword, mixed
  { key: 'add/positional', task: 'add', args: [2, 3] },
  { key: 'add/keyword', task: 'add', kwargs: { x: 2, y: 3 } },
  { key: 'add/keyword-reversed', task: 'add', kwargs: { y: 3, x: 2 } },
  { key: 'add/mixed', task: 'add', args: [2], kwargs: { y: 3 } },
  { key: 'add/values', task: 'add', args: [{ a: [1, null] }], kwargs: { y: 'text' } },
  // defaults
  { key: 'with_default/default-used', task: 'with_default', args: [1] },
  { key: 'with_default/positional', task: 'with_default', args: [1, 5] },
  { key: 'with_default/keyword', task: 'with_default', args: [1], kwargs: { y: 5 } },
  { key: 'with_default/all-keyword-default-used', task: 'with_default', kwargs: { x: 1 } },
  // *args
  { key: 'rest/none', task: 'rest', args: [1] },
  { key: 'rest/extra', task: 'rest', args: [1, 2, 3] },
  { key: 'rest/keyword', task: 'rest', kwargs: { x: 1 } },
  // keyword-only
  { key: 'kwonly/given', task: 'kwonly', args: [1], kwargs: { flag: true } },
  { key: 'kwonly/all-keyword', task: 'kwonly', kwargs: { mode: 'b', x: 1, flag: false } },
  // **kwargs
  { key: 'catch_all/extras', task: 'catch_all', args: [1], kwargs: { a: 1, b: 'two', c: [3] } },
  { key: 'catch_all/none', task: 'catch_all', args: [1] },
  { key: 'catch_all/x-keyword', task: 'catch_all', kwargs: { z: 2, x: 1 } },
  // everything at once: a, b=2, *args, c, d=4, **kwargs
  { key: 'full/everything', task: 'full', args: [1, 2, 3, 4], kwargs: { c: 5, e: 6, d: 7 } },
  { key: 'full/minimal', task: 'full', args: [1], kwargs: { c: 3 } },
  { key: 'full/b-keyword', task: 'full', args: [1], kwargs: { b: 9, c: 3, z: 0 } },
  // bound: self first
  { key: 'bound/positional', task: 'bound', args: [5] },
  { key: 'bound/keyword', task: 'bound', kwargs: { y: 7, x: 5 } },

  // missing positional: 1, 2, 3 names
  { key: 'add/missing-1', task: 'add', args: [8], error: "add() missing 1 required positional argument: 'y'" },
  { key: 'add/missing-2', task: 'add', error: "add() missing 2 required positional arguments: 'x' and 'y'" },
  { key: 'three/missing-3', task: 'three', error: "three() missing 3 required positional arguments: 'a', 'b', and 'c'" },
  { key: 'three/missing-2-around-keyword', task: 'three', kwargs: { b: 1 }, error: "three() missing 2 required positional arguments: 'a' and 'c'" },
  { key: 'with_default/missing', task: 'with_default', kwargs: { y: 1 }, error: "with_default() missing 1 required positional argument: 'x'" },
  { key: 'rest/missing', task: 'rest', error: "rest() missing 1 required positional argument: 'x'" },
  // missing keyword-only
  { key: 'kwonly/missing-keyword-only', task: 'kwonly', args: [1], error: "kwonly() missing 1 required keyword-only argument: 'flag'" },
  { key: 'full/missing-keyword-only', task: 'full', args: [1, 2, 3], error: "full() missing 1 required keyword-only argument: 'c'" },
  // too many positional, without and with defaults, with keyword-only ones given
  { key: 'add/too-many', task: 'add', args: [2, 3, 4], error: 'add() takes 2 positional arguments but 3 were given' },
  { key: 'with_default/too-many', task: 'with_default', args: [1, 2, 3], error: 'with_default() takes from 1 to 2 positional arguments but 3 were given' },
  { key: 'kwonly/too-many', task: 'kwonly', args: [1, 2], kwargs: { flag: true }, error: 'kwonly() takes 1 positional argument but 2 positional arguments (and 1 keyword-only argument) were given' },
  { key: 'catch_all/too-many', task: 'catch_all', args: [1, 2], kwargs: { a: 1 }, error: 'catch_all() takes 1 positional argument but 2 were given' },
  // unexpected keyword
  { key: 'add/unexpected', task: 'add', args: [1, 2], kwargs: { z: 3 }, error: "add() got an unexpected keyword argument 'z'" },
  { key: 'kwonly/unexpected', task: 'kwonly', args: [1], kwargs: { flag: true, other: 1 }, error: "kwonly() got an unexpected keyword argument 'other'" },
  { key: 'rest/unexpected-args-name', task: 'rest', args: [1], kwargs: { args: [2] }, error: "rest() got an unexpected keyword argument 'args'" },
  // multiple values for one argument
  { key: 'add/multiple', task: 'add', args: [1], kwargs: { x: 2 }, error: "add() got multiple values for argument 'x'" },
  { key: 'rest/multiple', task: 'rest', args: [1, 2], kwargs: { x: 3 }, error: "rest() got multiple values for argument 'x'" },
  { key: 'catch_all/multiple', task: 'catch_all', args: [1], kwargs: { x: 2 }, error: "catch_all() got multiple values for argument 'x'" },
  { key: 'full/multiple-optional', task: 'full', args: [1, 2, 3], kwargs: { b: 5, c: 1 }, error: "full() got multiple values for argument 'b'" },
  // which error wins: keywords in the order given, before counting positionals, before missing ones
  { key: 'add/order-unexpected-first', task: 'add', args: [1], kwargs: { z: 1, x: 2 }, error: "add() got an unexpected keyword argument 'z'" },
  { key: 'add/order-multiple-first', task: 'add', args: [1], kwargs: { x: 2, z: 1 }, error: "add() got multiple values for argument 'x'" },
  { key: 'add/order-keyword-before-too-many', task: 'add', args: [1, 2, 3], kwargs: { z: 4 }, error: "add() got an unexpected keyword argument 'z'" },
  { key: 'add/order-unexpected-before-missing', task: 'add', kwargs: { y: 1, z: 2 }, error: "add() got an unexpected keyword argument 'z'" },
  // bound: self counts as Python counts it
  { key: 'bound/missing', task: 'bound', error: "bound() missing 1 required positional argument: 'x'" },
  { key: 'bound/too-many', task: 'bound', args: [1, 2, 3], error: 'bound() takes from 2 to 3 positional arguments but 4 were given' },
  {
    key: 'bound/self-keyword', task: 'bound', args: [1], kwargs: { self: 2 }, error: "bound() got multiple values for argument 'self'",
    celeryWorkerText: "_install_stack_protection.<locals>.__protected_call__() got multiple values for argument 'self'",
  },
];
const FORMS = ['send_task', 'signature', 'partial'] as const;
/** How a producer that has the task registered calls it: Celery checks the arguments in each (`typing`). */
const TYPING_FORMS = ['apply_async', 'signature', 'chain'] as const;

type Sig = [string, PyValue[], PyDict];
const S = (name: string, args: PyValue[] = [], kwargs: PyDict = {}): Sig => [name, args, kwargs];

interface CanvasCase {
  key: string;
  /** The canvas Python builds for the pair member of language L (O: the other language). */
  spec(L: Lang, O: Lang): Record<string, unknown>;
  /** Python's TypeError text for the failing role (checked against Python's own outcome). */
  error?: string;
  /** Why only the outcomes are compared, not the records and events (Celery's own path is broken there). */
  outcomeOnly?: string;
}

// The binding happens in the worker that runs the task: chain steps, chord bodies, link callbacks and
// errbacks sent by a worker that does not have the task (the other language's), and the built-ins,
// which call their task inline.
const WORKER_CANVAS: CanvasCase[] = [
  { key: 'chain/partial-keyword', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.add`, [], { y: 2 }) }) },
  { key: 'chain/keyword-only', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.kwonly`, [], { flag: true }) }) },
  { key: 'chain/rest', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.rest`, [2, 3]) }) },
  { key: 'chain/catch-all', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.catch_all`, [], { k: 'v' }) }) },
  { key: 'chain/bound', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.bound`, [], { y: 2 }) }) },
  { key: 'chain/multiple', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.add`, [], { x: 2 }) }), error: "add() got multiple values for argument 'x'" },
  { key: 'chain/too-many', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.add`, [2, 3]) }), error: 'add() takes 2 positional arguments but 3 were given' },
  { key: 'chain/missing-keyword-only', spec: (L, O) => ({ kind: 'chain', first: S(`${O}.ident`, [1]), step: S(`${L}.kwonly`) }), error: "kwonly() missing 1 required keyword-only argument: 'flag'" },
  { key: 'chord/keyword', spec: (L, O) => ({ kind: 'chord', header: [S(`${O}.ident`, [1]), S(`${O}.ident`, [2])], body: S(`${L}.add`, [], { y: 3 }) }) },
  { key: 'chord/catch-all', spec: (L, O) => ({ kind: 'chord', header: [S(`${O}.ident`, [1]), S(`${O}.ident`, [2])], body: S(`${L}.catch_all`, [], { k: 'v' }) }) },
  { key: 'chord/unexpected', spec: (L, O) => ({ kind: 'chord', header: [S(`${O}.ident`, [1]), S(`${O}.ident`, [2])], body: S(`${L}.add`, [], { y: 1, z: 2 }) }), error: "add() got an unexpected keyword argument 'z'" },
  { key: 'chord/too-many', spec: (L, O) => ({ kind: 'chord', header: [S(`${O}.ident`, [1]), S(`${O}.ident`, [2])], body: S(`${L}.with_default`, [1, 2]) }), error: 'with_default() takes from 1 to 2 positional arguments but 3 were given' },
  { key: 'link/keyword', spec: (L, O) => ({ kind: 'link', parent: S(`${O}.ident`, [5]), link: S(`${L}.add`, [], { y: 2 }) }) },
  { key: 'link/keyword-only', spec: (L, O) => ({ kind: 'link', parent: S(`${O}.ident`, [5]), link: S(`${L}.kwonly`, [], { mode: 'z', flag: false }) }) },
  { key: 'link/multiple', spec: (L, O) => ({ kind: 'link', parent: S(`${O}.ident`, [5]), link: S(`${L}.add`, [], { x: 1 }) }), error: "add() got multiple values for argument 'x'" },
  { key: 'link/missing', spec: (L, O) => ({ kind: 'link', parent: S(`${O}.ident`, [5]), link: S(`${L}.three`, [1]) }), error: "three() missing 1 required positional argument: 'c'" },
  { key: 'errback/keyword-only', spec: (L, O) => ({ kind: 'errback', parent: S(`${O}.fail`), errback: S(`${L}.errback`, [], { tag: 't' }) }) },
  { key: 'errback/missing-keyword-only', spec: (L, O) => ({ kind: 'errback', parent: S(`${O}.fail`), errback: S(`${L}.errback`) }), error: "errback() missing 1 required keyword-only argument: 'tag'" },
  { key: 'errback/unexpected', spec: (L, O) => ({ kind: 'errback', parent: S(`${O}.fail`), errback: S(`${L}.errback`, [], { tag: 't', extra: 1 }) }), error: "errback() got an unexpected keyword argument 'extra'" },
  { key: 'errback/too-many', spec: (L, O) => ({ kind: 'errback', parent: S(`${O}.fail`), errback: S(`${L}.errback`, [1], { tag: 't' }) }), error: 'errback() takes 1 positional argument but 2 positional arguments (and 1 keyword-only argument) were given' },
  { key: 'starmap/ok', spec: (L) => ({ kind: 'starmap', task: `${L}.add`, it: [[1, 2], [3, 4]] }) },
  { key: 'starmap/missing', spec: (L) => ({ kind: 'starmap', task: `${L}.add`, it: [[1, 2], [3]] }), error: "add() missing 1 required positional argument: 'y'" },
  { key: 'starmap/too-many', spec: (L) => ({ kind: 'starmap', task: `${L}.with_default`, it: [[1], [1, 2, 3]] }), error: 'with_default() takes from 1 to 2 positional arguments but 3 were given' },
  { key: 'map/default-used', spec: (L) => ({ kind: 'map', task: `${L}.with_default`, it: [1, 2] }) },
  { key: 'map/missing-keyword-only', spec: (L) => ({ kind: 'map', task: `${L}.kwonly`, it: [1] }), error: "kwonly() missing 1 required keyword-only argument: 'flag'" },
];

// The sending worker has the next task registered: Celery's `typing` check runs there (Task.apply_async),
// so a wrong chain step or link callback fails the task that sends it and is never sent, a wrong chord
// body is the body's ChordError, a wrong old-style errback replaces the failed task's exception, and a
// wrong replacement fails the replaced task. Outcomes, stored records and task-failed events compared
// role by role.
const SENDER_CANVAS: CanvasCase[] = [
  { key: 'same/chain-ok', spec: (L) => ({ kind: 'chain', first: S(`${L}.ident`, [1]), step: S(`${L}.add`, [], { y: 2 }) }) },
  { key: 'same/chain-too-many', spec: (L) => ({ kind: 'chain', first: S(`${L}.ident`, [1]), step: S(`${L}.add`, [2, 3]) }), error: 'add() takes 2 positional arguments but 3 were given' },
  { key: 'same/link-ok', spec: (L) => ({ kind: 'link', parent: S(`${L}.ident`, [5]), link: S(`${L}.catch_all`, [], { k: 1 }) }) },
  { key: 'same/link-multiple', spec: (L) => ({ kind: 'link', parent: S(`${L}.ident`, [5]), link: S(`${L}.add`, [], { x: 1 }) }), error: "add() got multiple values for argument 'x'" },
  { key: 'same/chord-ok', spec: (L) => ({ kind: 'chord', header: [S(`${L}.ident`, [1]), S(`${L}.ident`, [2])], body: S(`${L}.rest`, [3]) }) },
  { key: 'same/chord-too-many', spec: (L) => ({ kind: 'chord', header: [S(`${L}.ident`, [1]), S(`${L}.ident`, [2])], body: S(`${L}.add`, [3, 4]) }), error: 'add() takes 2 positional arguments but 3 were given' },
  { key: 'same/errback-ok', spec: (L) => ({ kind: 'errback', parent: S(`${L}.fail`), errback: S(`${L}.errback`, [], { tag: 'same' }) }) },
  {
    key: 'same/errback-missing', spec: (L) => ({ kind: 'errback', parent: S(`${L}.fail`), errback: S(`${L}.errback`) }), error: "errback() missing 1 required keyword-only argument: 'tag'",
    outcomeOnly: "Celery's errback call raises inside its own failure handling: a solo worker dies (Unrecoverable error), a prefork one logs 'Pool callback raised exception', stores the TypeError with no traceback and sends no task-failed event",
  },
  { key: 'same/replace-ok', spec: (L) => ({ kind: 'call', sig: S(`${L}.swap`, [1], { y: 2 }) }) },
  { key: 'same/replace-unexpected', spec: (L) => ({ kind: 'call', sig: S(`${L}.swap`, [1], { z: 2 }) }), error: "add() got an unexpected keyword argument 'z'" },
];

// ---- what the peer prints --------------------------------------------------------------------------------------

interface PyErr {
  type: string;
  module: string;
  is_type_error: boolean;
  text: string;
}
interface Outcome {
  id: string;
  state: string;
  ok?: boolean;
  value?: PyValue;
  error?: PyErr;
}
interface PeerOut {
  outcomes: Record<string, Record<string, Outcome>>;
  extra_ids: Record<string, Record<string, string>>;
  typing: Record<string, { raised: boolean } & Partial<PyErr>>;
  events: Record<string, Record<string, PyValue>>;
  event_types: Record<string, Record<string, string>>;
}

/** Python's repr() of a str without backslashes or newlines. */
const pyStrRepr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replaceAll("'", "\\'")}'`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/;
const lastLine = (tb: unknown) => String(tb).trimEnd().split('\n').pop();

for (const b of brokerMatrix(DB)) bindingSuite(b);

function bindingSuite(b: BrokerCase): void {
  const { PYQ, TSQ, DEFQ, pyEnv, dropAmqpQueues } = fleetQueues('bind', b.brokerUrl, b.backendUrl, b.settings);
  const HOLDQ = uniqueName('bind.hold');
  const PY_NODE = `${PYQ}@py`;
  const TS_NODE = `${TSQ}@ts`;
  const routes = { 'bpy.*': { queue: PYQ }, 'bts.*': { queue: TSQ } };
  const base = { broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, ...b.settings, task_routes: routes, task_default_queue: DEFQ };
  let skip = false;
  let wapp: Celery;
  let worker: Worker | undefined;
  let py: PythonWorker | undefined;
  let redis: Redis;
  let out: PeerOut;
  const timings: Record<string, number> = {};

  /** A value of one side with what differs by design mapped to roles: own/other language, ids. */
  function normalizer(lang: Lang, ids: Record<string, string>, c?: Case) {
    const label = (l: Lang) => (l === lang ? 'SELF' : 'OTHER');
    const names: Record<string, string> = {
      [PY_NODE]: `NODE(${label('bpy')})`, [TS_NODE]: `NODE(${label('bts')})`,
      [PYQ]: `QUEUE(${label('bpy')})`, [TSQ]: `QUEUE(${label('bts')})`,
    };
    for (const [id, role] of Object.entries(ids)) names[id] = `ID(${role})`;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') {
        if (v in names) return names[v];
        // an id the caller never saw (the group an errback is sent in): that it is one
        if (UUID.test(v)) return 'ID(?)';
        if (/^(bpy|bts)\./.test(v)) return v.replace(/^(bpy|bts)\./, (_m, p: Lang) => `${label(p)}.`);
        // Celery 5.6's wrapper name, where the function's name belongs (see Case.celeryWorkerText)
        if (lang === 'bpy' && c?.celeryWorkerText && v.includes(c.celeryWorkerText)) return v.replaceAll(c.celeryWorkerText, c.error!);
        return v;
      }
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk;
  }

  /**
   * The stored records of a pair, field by field: the same fields; task_id, worker, queue, name and ids in
   * args/kwargs/result/children/group_id/parent_id equal once mapped to roles; date_done in Python's format
   * (isoformat with +00:00; Python has microseconds, JavaScript milliseconds); the traceback's frames are
   * each language's own, so its first line and its last (the exception) are compared.
   */
  async function compareRecords(what: string, pyId: string, tsId: string, normPy: (v: unknown) => unknown, normTs: (v: unknown) => unknown): Promise<void> {
    const [rawPy, rawTs] = await Promise.all([redis.get(`celery-task-meta-${pyId}`), redis.get(`celery-task-meta-${tsId}`)]);
    assert.ok(rawPy, `${what}: Python's record`);
    assert.ok(rawTs, `${what}: TypeScript's record`);
    const p = JSON.parse(rawPy) as Record<string, PyValue>;
    const t = JSON.parse(rawTs) as Record<string, PyValue>;
    assert.deepEqual(Object.keys(t).sort(), Object.keys(p).sort(), `${what}: the same fields`);
    const differ: string[] = [];
    const field = (k: string, check: () => void) => {
      try {
        check();
      } catch {
        const show = (v: PyValue | undefined) => JSON.stringify(k === 'traceback' && typeof v === 'string' ? `${v.split('\n')[0]} ... ${lastLine(v)}` : v);
        differ.push(`${k}: Python ${show(p[k])}, TypeScript ${show(t[k])}`);
      }
    };
    for (const k of Object.keys(p)) {
      if (k === 'date_done') {
        assert.match(String(p[k]), ISO, `${what}: Python's date_done`);
        field(k, () => assert.match(String(t[k]), ISO));
      } else if (k === 'traceback') {
        field(k, () => {
          if (p[k] === null) assert.equal(t[k], null);
          else {
            assert.equal(String(t[k]).split('\n')[0], 'Traceback (most recent call last):');
            assert.equal(normTs(lastLine(t[k])), normPy(lastLine(p[k])));
          }
        });
      } else {
        field(k, () => assert.deepEqual(normTs(t[k]), normPy(p[k])));
      }
    }
    assert.deepEqual(differ, [], `${what}: fields that differ:\n${differ.join('\n')}`);
  }

  /** The task-failed events of a pair, field by field. */
  function compareEvents(what: string, pyId: string, tsId: string, normPy: (v: unknown) => unknown, normTs: (v: unknown) => unknown): void {
    const p = out.events[pyId];
    const t = out.events[tsId];
    assert.ok(p, `${what}: Python's task-failed event`);
    assert.ok(t, `${what}: TypeScript's task-failed event (${Object.keys(out.events).length} captured)`);
    assert.deepEqual(Object.keys(t).sort(), Object.keys(p).sort(), `${what}: event fields`);
    assert.deepEqual(out.event_types[tsId], out.event_types[pyId], `${what}: event field types`);
    for (const k of Object.keys(p)) {
      if (['pid', 'clock', 'timestamp', 'local_received'].includes(k)) continue; // per process / per moment: types above
      if (k === 'traceback') assert.equal(normTs(lastLine(t[k])), normPy(lastLine(p[k])), `${what}: event traceback's last line`);
      else assert.deepEqual(normTs(t[k]), normPy(p[k]), `${what}: event ${k}`);
    }
  }

  /** The ids of a canvas case (its roles, a chord's group and header) → their labels. */
  const canvasIds = (key: string): Record<string, string> => ({
    ...out.extra_ids[key],
    ...Object.fromEntries(Object.entries(out.outcomes[key]!).map(([role, x]) => [x.id, role])),
  });

  /** Outcome of a role as the Python caller saw it, without its id. */
  const seen = (o: Outcome | undefined, norm: (v: unknown) => unknown) =>
    o && { state: o.state, ok: o.ok, value: norm(o.value), error: o.error && { type: o.error.type, module: o.error.module, is_type_error: o.error.is_type_error, text: norm(o.error.text) } };

  describe(`[${b.name}] arguments bound as Python binds them: Python callers, a Python worker and a TypeScript worker`, () => {
    before(async () => {
      if (!requirePython({ skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } } as never)) return;
      const t0 = Date.now();
      // test/python/binding_tasks.py (worker and the peer's `typing` ops) reads the queues from the environment
      Object.assign(process.env, pyEnv());
      redis = new Redis(b.backendUrl);
      wapp = new Celery({ ...base, result_extended: true, worker_send_task_events: true });
      registerTsTasks(wapp);
      const [w, p] = await Promise.all([
        (async () => {
          const w = new Worker(wapp, { queues: [TSQ, DEFQ], concurrency: 16, hostname: TS_NODE, logger: testLogger(), withoutMingle: true });
          await w.start();
          return w;
        })(),
        startPythonWorker(['-A', 'binding_tasks', 'worker', '-E', '-Q', PYQ, '-P', 'prefork', '-c', '4', '-n', PY_NODE,
          '--without-mingle', '--without-gossip', '-l', 'info'], { cwd: 'test/python', env: pyEnv() }),
      ]);
      worker = w;
      py = p;
      timings.workers = Date.now() - t0;
      const t1 = Date.now();
      const calls = CASES.flatMap((c) => FORMS.flatMap((form) => LANGS.map((L) => ({ key: `${c.key}|${form}|${L}`, name: `${L}.${c.task}`, form, args: c.args ?? [], kwargs: c.kwargs ?? {} }))));
      const canvas = [...WORKER_CANVAS, ...SENDER_CANVAS].flatMap((c) => LANGS.map((L) => ({ key: `${c.key}|${L}`, ...c.spec(L, other(L)) })));
      const typing = CASES.filter((c) => c.error).flatMap((c) => TYPING_FORMS.map((form) => ({ key: `${c.key}|${form}`, name: `bpy.${c.task}`, form, args: c.args ?? [], kwargs: c.kwargs ?? {} })));
      const raw = await runPython('test/python/binding_peer.py', {
        broker: b.brokerUrl, backend: b.backendUrl, conf: b.settings, routes, default_queue: DEFQ, hold_queue: HOLDQ,
        timeout: 60, idle: 3, events: true, calls, canvas, typing,
      });
      out = JSON.parse(raw.trim().split('\n').pop()!) as PeerOut;
      if (process.env.CELERIAC_BINDING_DUMP) (await import('node:fs')).writeFileSync(`${process.env.CELERIAC_BINDING_DUMP}.${b.name}.json`, raw);
      timings.peer = Date.now() - t1;
      timings.calls = calls.length + canvas.length;
    });

    after(async () => {
      if (skip) return;
      console.log(`# [${b.name}] workers started in ${timings.workers} ms; ${timings.calls} Python calls (both languages) sent, read and their events captured in ${timings.peer} ms`);
      await worker?.stop().catch(() => undefined);
      await py?.stop().catch(() => undefined);
      if (process.env.CELERIAC_BINDING_DUMP && py) (await import('node:fs')).writeFileSync(`${process.env.CELERIAC_BINDING_DUMP}.${b.name}.log`, py.log());
      await wapp?.close().catch(() => undefined);
      // the suite's queues (HOLDQ keeps its messages) and, on the Redis broker, their exchanges' bindings
      await redis?.del(HOLDQ, ...[PYQ, TSQ, DEFQ, HOLDQ].map((q) => `_kombu.binding.${q}`)).catch(() => undefined);
      await redis?.quit().catch(() => undefined);
      if (b.name === 'amqp') await Promise.all([dropAmqpQueues(), deleteAmqpQueues([HOLDQ])]);
    });

    test('Python calls: the same SUCCESS values (positional, keyword, mixed, defaults, *args, keyword-only, **kwargs, bound) in every call form', (t) => {
      if (skip) return t.skip();
      for (const c of CASES.filter((c) => !c.error)) {
        for (const form of FORMS) {
          const what = `${c.key} (${form})`;
          const p = out.outcomes[`${c.key}|${form}|bpy`]!.result!;
          const s = out.outcomes[`${c.key}|${form}|bts`]!.result!;
          assert.equal(p.state, 'SUCCESS', `${what}: Python's own outcome: ${JSON.stringify(p)}`);
          assert.equal(s.state, 'SUCCESS', `${what}: TypeScript: ${JSON.stringify(s.error ?? s)}`);
          assert.deepEqual(s.value, p.value, `${what}: the value`);
        }
      }
      // what the table means, in Python's own words
      assert.deepEqual(out.outcomes['full/minimal|send_task|bpy']!.result!.value, { a: 1, b: 2, args: [], c: 3, d: 4, kwargs: {} });
      assert.deepEqual(out.outcomes['bound/keyword|partial|bpy']!.result!.value, { self: 'bound', x: 5, y: 7 });
    });

    test('Python calls, each wrong-call kind: AsyncResult.get() raises TypeError with the same text', (t) => {
      if (skip) return t.skip();
      for (const c of CASES.filter((c) => c.error)) {
        for (const form of FORMS) {
          const what = `${c.key} (${form})`;
          const p = out.outcomes[`${c.key}|${form}|bpy`]!.result!;
          const s = out.outcomes[`${c.key}|${form}|bts`]!.result!;
          assert.equal(p.state, 'FAILURE', `${what}: Python's own outcome`);
          assert.deepEqual(p.error, { type: 'TypeError', module: 'builtins', is_type_error: true, text: c.celeryWorkerText ?? c.error }, `${what}: Python's text`);
          assert.equal(s.state, 'FAILURE', `${what}: TypeScript: ${JSON.stringify(s.value ?? s)}`);
          assert.deepEqual(s.error, { type: 'TypeError', module: 'builtins', is_type_error: true, text: c.error }, `${what}: TypeScript's text`);
        }
      }
    });

    test('wrong calls: the stored FAILURE record, field by field', async (t) => {
      if (skip) return t.skip();
      for (const c of CASES) {
        for (const form of FORMS) {
          const p = out.outcomes[`${c.key}|${form}|bpy`]!.result!;
          const s = out.outcomes[`${c.key}|${form}|bts`]!.result!;
          await compareRecords(`${c.key} (${form})`, p.id, s.id, normalizer('bpy', { [p.id]: 'task' }, c), normalizer('bts', { [s.id]: 'task' }, c));
        }
      }
    });

    test('wrong calls: the task-failed event, field by field', (t) => {
      if (skip) return t.skip();
      for (const c of CASES.filter((c) => c.error)) {
        for (const form of FORMS) {
          const p = out.outcomes[`${c.key}|${form}|bpy`]!.result!;
          const s = out.outcomes[`${c.key}|${form}|bts`]!.result!;
          compareEvents(`${c.key} (${form})`, p.id, s.id, normalizer('bpy', { [p.id]: 'task' }, c), normalizer('bts', { [s.id]: 'task' }, c));
          assert.equal(out.events[s.id]!.exception, `TypeError(${pyStrRepr(c.error!)})`, `${c.key} (${form}): the event's exception`);
        }
      }
    });

    test('chain steps, chord bodies, link callbacks, errbacks and the starmap/map built-ins (built in Python): outcomes, records and events', async (t) => {
      if (skip) return t.skip();
      for (const c of WORKER_CANVAS) {
        const p = out.outcomes[`${c.key}|bpy`]!;
        const s = out.outcomes[`${c.key}|bts`]!;
        const roles = Object.keys(p).sort();
        assert.deepEqual(Object.keys(s).sort(), roles);
        const normPy = normalizer('bpy', canvasIds(`${c.key}|bpy`));
        const normTs = normalizer('bts', canvasIds(`${c.key}|bts`));
        const r = p.result!;
        if (c.error) {
          assert.equal(r.state, 'FAILURE', `${c.key}: Python's own outcome ${JSON.stringify(r)}`);
          assert.deepEqual(r.error, { type: 'TypeError', module: 'builtins', is_type_error: true, text: c.error }, `${c.key}: Python's text`);
        } else assert.equal(r.state, 'SUCCESS', `${c.key}: Python's own outcome ${JSON.stringify(r)}`);
        for (const role of roles) {
          assert.deepEqual(seen(s[role], normTs), seen(p[role], normPy), `${c.key}: ${role} as the Python caller sees it`);
          if (p[role]!.state === 'PENDING') continue;
          await compareRecords(`${c.key}: ${role}`, p[role]!.id, s[role]!.id, normPy, normTs);
        }
        if (c.error) compareEvents(c.key, r.id, s.result!.id, normPy, normTs);
      }
      // what the table means, in Python's own words
      assert.deepEqual(out.outcomes['chord/keyword|bpy']!.result!.value, { x: [1, 2], y: 3 });
      assert.deepEqual(out.outcomes['link/keyword|bpy']!.result!.value, { x: 5, y: 2 });
      const eb = out.outcomes['errback/keyword-only|bts']!;
      assert.deepEqual(eb.result!.value, { task_id: eb.parent!.id, tag: 't' });
    });

    test('a sender that has the next task registered: Celery\'s typing check in the sending worker (chain step, link, chord body, errback, replace)', async (t) => {
      if (skip) return t.skip();
      const differences: string[] = [];
      for (const c of SENDER_CANVAS) {
        const p = out.outcomes[`${c.key}|bpy`]!;
        const s = out.outcomes[`${c.key}|bts`]!;
        const normPy = normalizer('bpy', canvasIds(`${c.key}|bpy`));
        const normTs = normalizer('bts', canvasIds(`${c.key}|bts`));
        if (c.error) assert.ok(Object.values(p).some((o) => o.error?.text.includes(c.error!)), `${c.key}: Python's text in ${JSON.stringify(p)}`);
        for (const role of Object.keys(p)) {
          try {
            assert.deepEqual(seen(s[role], normTs), seen(p[role], normPy));
          } catch {
            differences.push(`${c.key}, ${role}: Python ${JSON.stringify(seen(p[role], normPy))}; TypeScript ${JSON.stringify(seen(s[role], normTs))}`);
            continue;
          }
          if (p[role]!.state === 'PENDING' || c.outcomeOnly) continue;
          try {
            await compareRecords(`${c.key}: ${role}`, p[role]!.id, s[role]!.id, normPy, normTs);
          } catch (e) {
            differences.push(`${c.key}, ${role}: the stored record: ${(e as Error).message.split('\n+ actual')[0]!.replaceAll('\n', '; ')}`);
          }
          if (p[role]!.state === 'FAILURE' && (out.events[p[role]!.id] || out.events[s[role]!.id])) {
            try {
              compareEvents(`${c.key}: ${role}`, p[role]!.id, s[role]!.id, normPy, normTs);
            } catch (e) {
              differences.push(`${c.key}, ${role}: the task-failed event: ${(e as Error).message.split('\n').slice(0, 6).join(' ')}`);
            }
          }
        }
      }
      // Celery's behaviour (the reference), spelled out
      const chainPy = out.outcomes['same/chain-too-many|bpy']!;
      assert.equal(chainPy.parent!.state, 'FAILURE', 'the step is checked when the first task sends it: the first task fails');
      assert.equal(out.outcomes['same/link-multiple|bpy']!.result!.state, 'PENDING', 'a wrong link callback is never sent');
      assert.equal(out.outcomes['same/chord-too-many|bpy']!.result!.error!.type, 'ChordError');
      assert.equal(out.outcomes['same/errback-missing|bpy']!.parent!.error!.type, 'TypeError', "the errback's TypeError replaces the failed task's ValueError");
      assert.deepEqual(differences, [], `outcomes that differ from Celery's:\n${differences.join('\n')}`);
    });

    test('Celery\'s producer-side check (typing) says what the workers say', (t) => {
      if (skip) return t.skip();
      for (const c of CASES.filter((c) => c.error)) {
        for (const form of TYPING_FORMS) {
          assert.deepEqual(out.typing[`${c.key}|${form}`], { raised: true, type: 'TypeError', module: 'builtins', is_type_error: true, text: c.error }, `${c.key}: Python's ${form}`);
        }
      }
    });

    test('TypeScript producer: a wrong call throws Python\'s TypeError before sending (nothing reaches the queue); typing: false sends it', async (t) => {
      if (skip) return t.skip();
      const prod = new Celery(base);
      const loose = new Celery(base);
      try {
        registerTsTasks(prod);
        registerTsTasks(loose, { typing: false });
        const hold = { queue: HOLDQ };
        // one right call declares the queue (RabbitMQ) and is the one message expected there
        const sent = await prod.task('bts.add').applyAsync([1], { y: 2 }, hold);
        assert.ok(sent.id);
        const ident = prod.task('bts.ident');
        const differences: string[] = [];
        let sentAnyway = 0;
        for (const c of CASES.filter((c) => c.error)) {
          const handle = prod.task(`bts.${c.task}`);
          const args = c.args ?? [];
          const kwargs = c.kwargs ?? {};
          const calls: [string, () => Promise<unknown>][] = [
            ['apply_async', () => handle.applyAsync(args, kwargs, hold)],
            ['signature', () => prod.applyAsync(handle.signature(args, kwargs, hold))],
            ['chain', () => prod.applyAsync(prod.chain(handle.signature(args, kwargs, hold), ident.signature([], {}, hold)))],
            // delay(*args, **kwargs), keywords as kw({...}); Python's delay has a `self` of its own
            ['apply_async', () => handle.delay(...args, kw(kwargs))],
          ];
          for (const [form, call] of calls) {
            const celery = out.typing[`${c.key}|${form}`]!.text;
            try {
              await call();
              sentAnyway++;
              differences.push(`${c.key} (${form}): sent; Celery raises TypeError: ${celery}`);
            } catch (e) {
              const err = e as Error;
              if (!(err instanceof TypeError) || err.message !== celery) differences.push(`${c.key} (${form}): ${err.constructor.name}: ${err.message}; Celery raises TypeError: ${celery}`);
            }
          }
        }
        // typed handles of the Python tasks, with declared parameters
        const pyAdd = prod.task<[number, number], PyDict>('bpy.add', { params: ['x', 'y'] });
        await assert.rejects(async () => pyAdd.applyAsync([8] as never, {}, hold), (e: Error) => e instanceof TypeError && e.message === "add() missing 1 required positional argument: 'y'");
        const pyBound = prod.task('bpy.bound', { params: ['x', 'y='], bind: true });
        await assert.rejects(async () => pyBound.applyAsync([1, 2, 3], {}, hold), (e: Error) => e instanceof TypeError && e.message === out.typing['bound/too-many|apply_async']!.text);
        await assert.rejects(async () => pyBound.delay(1, kw({ self: 2 })), (e: Error) => e instanceof TypeError && e.message === out.typing['bound/self-keyword|apply_async']!.text);
        assert.equal(await prod.broker.queueLength(HOLDQ), 1 + sentAnyway, 'a call that threw sent nothing');
        // the right calls: to the Python worker and the TypeScript one
        assert.deepEqual(await (await pyAdd.delay(2, kw({ y: 3 }) as never)).get({ timeout: 20 }), { x: 2, y: 3 });
        assert.deepEqual(await (await prod.task('bts.full').delay(1, kw({ c: 3, e: 5 }))).get({ timeout: 20 }), { a: 1, b: 2, args: [], c: 3, d: 4, kwargs: { e: 5 } });
        // typing: false sends the wrong call, and the worker's TypeError is what comes back
        await loose.task('bts.add').applyAsync([8], {}, hold);
        assert.equal(await prod.broker.queueLength(HOLDQ), 2 + sentAnyway, 'typing: false sent it');
        for (const [name, params] of [['bts.add', undefined], ['bpy.add', ['x', 'y']]] as const) {
          const h = params ? loose.task(name, { params, typing: false }) : loose.task(name);
          const r = await h.applyAsync([8]);
          await assert.rejects(r.get({ timeout: 20 }), (e: PythonError) => {
            assert.equal(e.excType, 'TypeError', `${name}: ${e.message}`);
            assert.deepEqual(e.excMessage, ["add() missing 1 required positional argument: 'y'"], name);
            return true;
          });
        }
        assert.deepEqual(differences, [], `calls checked otherwise than Celery's typing check does:\n${differences.join('\n')}`);
      } finally {
        await prod.close();
        await loose.close();
      }
    });
  });
}
