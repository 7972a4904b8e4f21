// The README's "Decoding a message by hand": kombu pushes on the left and workers pop from the right, so
// `redis-cli LRANGE celery -1 -1 | celeriac decode` shows the next message to run. Checked against real
// kombu: with three messages queued (by Python Celery, then by celeriac), the element at -1 is the first
// one sent, `celeriac decode` of it names that task id, and kombu's own get (what a Python worker takes
// next) returns that same message; the element at 0 is the last one sent.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { URL, dropPrefixes, newPrefix, peer, rawClient, taskRaw, type PeerMessage } from '../helpers/redis-broker.ts';

after(dropPrefixes);

const BIN = resolve('bin/celeriac.js');

/** `celeriac decode` of one list element, as the README pipes it; returns the decoded task id. */
function decodedId(element: string): string {
  const r = spawnSync(process.execPath, [BIN, 'decode'], { input: element, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `celeriac decode failed:\n${r.stderr}`);
  return (JSON.parse(r.stdout) as { headers: { id: string } }).headers.id;
}

test('LRANGE <queue> -1 -1 is the next message a worker takes (kombu LPUSHes, workers pop from the right)', async (t) => {
  if (!requirePython(t)) return;
  const redis = rawClient();
  t.after(() => redis.quit());
  const ids = (ms: PeerMessage[]) => ms.map((m) => m.headers.id);

  // sent by Python Celery
  const prefix = newPrefix();
  const q = uniqueName('rb.next');
  await peer(['n1', 'n2', 'n3'].map((id) => ({ op: 'send', name: 't.add', args: [1, 2], options: { queue: q, task_id: id } })), { global_keyprefix: prefix });
  const key = `${prefix}${q}`;
  assert.equal(await redis.llen(key), 3);
  const [last] = await redis.lrange(key, -1, -1);
  const [first] = await redis.lrange(key, 0, 0);
  assert.equal(decodedId(last!), 'n1', 'LRANGE -1 -1 should be the first message sent');
  assert.equal(decodedId(first!), 'n3', 'LRANGE 0 0 should be the last message sent');
  const [taken] = await peer([{ op: 'get', queue: q, count: 1 }], { global_keyprefix: prefix }) as [PeerMessage[]];
  assert.deepEqual(ids(taken), ['n1'], 'kombu takes the element at -1 next');

  // sent by celeriac: the same end
  const prefix2 = newPrefix();
  const broker = new RedisBroker(URL, { global_keyprefix: prefix2 });
  t.after(() => broker.close());
  for (const id of ['c1', 'c2', 'c3']) await broker.publish(taskRaw(id), { exchange: '', routingKey: q });
  const [next] = await redis.lrange(`${prefix2}${q}`, -1, -1);
  assert.equal(decodedId(next!), 'c1');
  const [taken2] = await peer([{ op: 'get', queue: q, count: 3 }], { global_keyprefix: prefix2 }) as [PeerMessage[]];
  assert.deepEqual(ids(taken2), ['c1', 'c2', 'c3']);
});
