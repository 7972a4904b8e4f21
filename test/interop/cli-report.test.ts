// `celeriac report` against Python's `celery report` for the same settings (test/helpers/ops-app.ts and
// test/python/ops_peer.py with OPS_REPORT=1): the same layout line by line, the same `settings ->` line,
// and every setting both apps hold printed identically: Python's pprint forms (dicts sorted and broken
// as Celery's `pretty` breaks them), passwords in URLs and secret-looking keys masked as
// `filter_hidden_settings` masks them. No broker is contacted (as in Celery).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { celeriac, celery, missingPeers, show } from '../helpers/cli-ops.ts';

const ENV = {
  OPS_REPORT: '1',
  OPS_BROKER: 'redis://:s3cret@127.0.0.1:6379/0',
  OPS_BACKEND: 'redis://:s3cret@127.0.0.1:6379/1',
  OPS_QA: 'report.qa',
  OPS_QB: 'report.qb',
  OPS_X: 'report.x',
};

/** The settings part of a report: setting name -> its text (continuation lines included). */
function settingsOf(report: string): Map<string, string> {
  const lines = report.split('\n').slice(8);
  const out = new Map<string, string>();
  let last: string | null = null;
  for (const l of lines) {
    const m = /^([a-z_]+): /.exec(l);
    if (m) out.set((last = m[1]!), l);
    else if (last && l.startsWith(' ')) out.set(last, `${out.get(last)}\n${l}`);
  }
  return out;
}

test('celeriac report: Celery\'s layout and the same settings, masked the same way', async (t) => {
  const why = missingPeers({ python: true });
  if (why) return t.skip(why);
  const [py, ts] = await Promise.all([celery(['report'], ENV), celeriac(['report'], ENV)]);
  assert.equal(py.code, 0, show(py));
  assert.equal(ts.code, 0, show(ts));
  const p = py.out.split('\n');
  const s = ts.out.split('\n');
  // the header: the same eight lines, Node's versions where Celery has Python's
  assert.equal(s[0], '');
  assert.match(s[1]!, /^software -> celeriac:\d+\.\d+\.\d+\S* node:\d+\.\d+\.\d+ v8:\S+$/);
  assert.match(s[2]!, /^ {12}protocol:2 ioredis:\d+\.\d+\.\d+/);
  assert.match(s[3]!, /^platform -> system:\S+ arch:\S+, (LE|BE)$/);
  assert.match(s[4]!, /^ {12}kernel version:\S+ imp:Node\.js$/);
  assert.equal(s[5], `loader   -> ${process.cwd()}/test/helpers/ops-app.ts`);
  for (const i of [1, 2, 3, 4, 5]) assert.equal(s[i]!.slice(0, 12), p[i]!.slice(0, 12), `line ${i} starts as Celery's`);
  assert.equal(s[6], p[6]);
  assert.equal(s[6], 'settings -> transport:redis results:redis://:**@127.0.0.1:6379/1');
  assert.equal(s[7], '');
  assert.ok(ts.out.endsWith('\n\n'), 'a blank line at the end, as Celery');
  const pys = settingsOf(py.out);
  const tss = settingsOf(ts.out);
  const shared = [
    'broker_url', 'result_backend', 'task_default_queue', 'broker_transport_options', 'result_expires', 'task_publish_retry_policy',
    'accept_content', 'task_routes', 'redbeat_key_prefix', 'worker_prefetch_multiplier', 'task_acks_late', 'timezone', 'beat_schedule',
  ];
  for (const k of shared) assert.equal(tss.get(k), pys.get(k), k);
  // in the order the apps were given them (Celery's conf.without_defaults())
  assert.deepEqual([...tss.keys()].filter((k) => shared.includes(k)), [...pys.keys()].filter((k) => shared.includes(k)));
  assert.equal(tss.get('broker_url'), "broker_url: 'redis://:********@127.0.0.1:6379/0'");
  assert.equal(tss.get('broker_transport_options'), "broker_transport_options: \n 'password': '********', 'visibility_timeout': 30}");
  assert.equal(tss.get('redbeat_key_prefix'), "redbeat_key_prefix: '********'");
  assert.ok(!ts.out.includes('s3cret') && !ts.out.includes('hunter2'), ts.out);
  // only what the app was given (Celery's conf.table()); task_queues is in celeriac's own form
  assert.deepEqual([...tss.keys()].filter((k) => !shared.includes(k)), ['task_queues']);
});
