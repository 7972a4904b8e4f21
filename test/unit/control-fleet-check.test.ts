// `celeriac fleet check`'s logic (src/control/fleet-check.ts) on hand-made replies, and the view of
// an app it uses (src/cli/fleet-check.ts: routes, the app's own tasks, task_serializer). The interop
// test runs the command against a real Python + TypeScript fleet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PyValue } from '../../protocol/values.ts';
import { Celery } from '../../src/app.ts';
import { checkFleet, formatReport, type AppView, type FleetReplies } from '../../src/control/fleet-check.ts';
import { appView, routeNames } from '../../src/cli/fleet-check.ts';

const q = (...names: string[]) => names.map((name) => ({ name, exchange: { name, type: 'direct' }, routing_key: name }));

function fleet(o: { tasks: Record<string, string[]>; queues: Record<string, string[]>; conf?: Record<string, Record<string, PyValue>> }): FleetReplies {
  const conf: Record<string, PyValue> = {};
  for (const n of Object.keys(o.tasks)) conf[n] = o.conf?.[n] ?? {};
  return { registered: o.tasks, activeQueues: Object.fromEntries(Object.entries(o.queues).map(([n, qs]) => [n, q(...qs)])), conf };
}

function view(o: Partial<AppView> & { routes?: Record<string, string> } = {}): AppView {
  const routes = o.routes ?? {};
  return {
    tasks: o.tasks ?? [],
    routeNames: o.routeNames ?? Object.keys(routes),
    taskSerializer: o.taskSerializer ?? 'json',
    route: o.route ?? ((name) => (routes[name] ? { queue: routes[name]!, explicit: true } : { queue: 'celery', explicit: false })),
  };
}

const kinds = (r: ReturnType<typeof checkFleet>) => r.findings.map((f) => f.kind);

test('a clean mixed fleet: same tasks and settings on a shared queue', () => {
  const r = checkFleet(fleet({
    tasks: { 'py@h': ['t.add [rate_limit=1/s]', 't.mul'], 'ts@h': ['t.add', 't.mul'] },
    queues: { 'py@h': ['shared'], 'ts@h': ['shared'] },
    conf: { 'py@h': { accept_content: ['json'] }, 'ts@h': { accept_content: ['application/json'], result_serializer: 'json' } },
  }), view());
  assert.deepEqual(r.findings, []);
  assert.ok(r.ok);
  assert.deepEqual(r.queues, { shared: ['py@h', 'ts@h'] });
  assert.deepEqual(r.tasks['py@h'], ['t.add', 't.mul']);
  assert.equal(formatReport(r), 'OK: no problem found (2 nodes, 1 queue).\n');
});

test('a task one consumer of a queue registers and another lacks', () => {
  const r = checkFleet(fleet({
    tasks: { 'py@h': ['t.add'], 'ts@h': ['t.add', 't.ts_only'], 'other@h': ['t.other'] },
    queues: { 'py@h': ['shared'], 'ts@h': ['shared', 'tsq'], 'other@h': ['otherq'] },
  }));
  assert.deepEqual(r.findings, [{
    kind: 'unknown-task', queue: 'shared', task: 't.ts_only', knownBy: ['ts@h'], unknownTo: ['py@h'],
    message: 'queue shared: task t.ts_only (registered by ts@h) is unknown to py@h, which consumes the queue too',
  }]);
  assert.equal(formatReport(r), '- queue shared: task t.ts_only (registered by ts@h) is unknown to py@h, which consumes the queue too\n\n1 problem found (3 nodes, 3 queues).\n');
});

test('a task the app routes by name to another queue is not expected on the shared one', () => {
  const replies = fleet({ tasks: { 'py@h': ['t.add'], 'ts@h': ['t.add', 't.ts_only'] }, queues: { 'py@h': ['shared'], 'ts@h': ['shared', 'tsq'] } });
  assert.deepEqual(kinds(checkFleet(replies, view({ routes: { 't.ts_only': 'tsq' } }))), []);
  // routed to the shared queue itself: still a problem
  assert.deepEqual(kinds(checkFleet(replies, view({ routes: { 't.ts_only': 'shared' } }))), ['unknown-task']);
});

test('routes: to a queue nobody consumes; to a queue whose consumers all lack the task', () => {
  const r = checkFleet(fleet({ tasks: { 'py@h': ['t.add'] }, queues: { 'py@h': ['pyq'] } }), view({ routes: { 't.add': 'nowhere', 't.new': 'pyq' } }));
  assert.deepEqual(r.findings.map((f) => [f.kind, f.task, f.queue]), [['unconsumed-route', 't.add', 'nowhere'], ['unknown-task', 't.new', 'pyq']]);
  assert.equal(r.findings[0]!.message, 'task t.add is routed to queue nowhere, which no worker consumes');
  assert.match(r.findings[1]!.message, /task t\.new \(routed here by the app\) is unknown to py@h/);
  // the app's own tasks go to the default queue unless routed: checked too
  const own = checkFleet(fleet({ tasks: { 'py@h': ['t.add'] }, queues: { 'py@h': ['pyq'] } }), view({ tasks: ['t.mine'] }));
  assert.deepEqual(own.findings.map((f) => [f.kind, f.task, f.queue]), [['unconsumed-route', 't.mine', 'celery']]);
  // workers' tasks without a route are not assumed to go to the default queue
  assert.deepEqual(kinds(checkFleet(fleet({ tasks: { 'py@h': ['t.add'] }, queues: { 'py@h': ['pyq'] } }), view())), []);
});

test('protocol settings compared between consumers of a queue (defaults filled in, accept_content as content types)', () => {
  const r = checkFleet(fleet({
    tasks: { 'a@h': ['t'], 'b@h': ['t'], 'c@h': ['t'] },
    queues: { 'a@h': ['q1'], 'b@h': ['q1'], 'c@h': ['q2'] },
    conf: {
      'a@h': { accept_content: ['json', 'msgpack'], result_backend: 'redis://r/1', task_serializer: 'json' },
      'b@h': { accept_content: ['application/x-msgpack', 'application/json'], result_backend: 'redis://r/2', result_serializer: 'msgpack' },
      'c@h': { accept_content: ['yaml'] },
    },
  }));
  assert.deepEqual(r.findings.map((f) => [f.kind, f.queue, f.setting]), [['setting-mismatch', 'q1', 'result_backend'], ['setting-mismatch', 'q1', 'result_serializer']]);
  assert.deepEqual(r.findings[1]!.values, { 'a@h': 'json', 'b@h': 'msgpack' });
  assert.equal(r.findings[0]!.message, 'queue q1: result_backend differs between its consumers: a@h="redis://r/1", b@h="redis://r/2"');
});

test('a consumer that does not accept the app\'s task_serializer on a queue the app routes to', () => {
  const r = checkFleet(fleet({ tasks: { 'a@h': ['t'] }, queues: { 'a@h': ['q'] }, conf: { 'a@h': { accept_content: ['json'] } } }), view({ routes: { t: 'q' }, taskSerializer: 'msgpack' }));
  assert.deepEqual(r.findings.map((f) => [f.kind, f.node]), [['not-accepted', 'a@h']]);
});

test('a node that answered only some questions is reported', () => {
  const r = checkFleet({ registered: { 'a@h': ['t'], 'b@h': ['t'] }, activeQueues: { 'a@h': q('x'), 'b@h': q('x') }, conf: { 'a@h': {} } });
  assert.deepEqual(r.findings.map((f) => [f.kind, f.node]), [['no-reply', 'b@h']]);
  assert.match(r.findings[0]!.message, /b@h did not answer inspect conf/);
});

test('the app\'s view: routes by name, globs, the task\'s own queue, router functions, the default queue', () => {
  const app = new Celery({
    env: {},
    task_default_queue: 'dflt',
    task_serializer: 'msgpack',
    task_routes: [{ 'a.x': 'qa', 'b.*': { queue: 'qb' } }, (name: string) => (name === 'f.y' ? { queue: 'qf' } : null)],
  });
  app.task('c.own', () => 1, { queue: 'qc' });
  app.task('d.plain', () => 1);
  const v = appView(app);
  assert.deepEqual([...v.tasks].sort(), ['c.own', 'd.plain']);
  assert.deepEqual(v.routeNames, ['a.x']);
  assert.equal(v.taskSerializer, 'msgpack');
  assert.deepEqual(v.route('a.x'), { queue: 'qa', explicit: true });
  assert.deepEqual(v.route('b.z'), { queue: 'qb', explicit: true });
  assert.deepEqual(v.route('f.y'), { queue: 'qf', explicit: true });
  assert.deepEqual(v.route('c.own'), { queue: 'qc', explicit: true });
  assert.deepEqual(v.route('d.plain'), { queue: 'dflt', explicit: false });
  assert.deepEqual(routeNames(new Map<string | RegExp, string>([['m.x', 'q'], [/re/, 'q']])), ['m.x']);
  assert.deepEqual(routeNames([['p.x', 'q'], ['p.*', 'q']]), ['p.x']);
  assert.deepEqual(routeNames(null), []);
});
