// The Redis transport's batched acks (UnackedStore.remove): the acks of one tick share one command and
// one promise; acks queued while a batch fetch is being prepared ride with it; when the fetch fails they
// go out again on their own and every ack settles with that command; a failed command rejects them all.
// A scripted client stands in for ioredis: this is the batching logic, the wire is tested in
// test/interop/redis-broker-qos.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { UnackedStore } from '../../src/brokers/redis/qos.ts';
import { RedisKeys } from '../../src/brokers/redis/keys.ts';
import { resolveRedisOptions } from '../../src/brokers/redis/options.ts';

interface Call { removed: string[]; fetch: boolean }

/** A client whose fetch script records what it was asked and answers as `answer` says. */
function scripted(answer: (c: Call) => Promise<Buffer[]>) {
  const calls: Call[] = [];
  const client = {
    defineCommand() {},
    celeriacFetchBatchBuffer(numKeys: number, ...args: string[]) {
      // ARGV: max, now, nq, rotate, nrec(=0 here), removals...
      const argv = args.slice(numKeys);
      const c = { removed: argv.slice(5), fetch: argv[0] !== '0' };
      calls.push(c);
      return answer(c);
    },
  };
  const options = resolveRedisOptions({}, 0);
  const store = new UnackedStore(client as unknown as Redis, new RedisKeys(options), options, async () => []);
  return { store, calls };
}

const settled = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => `failed: ${e.message}`);
const turn = () => new Promise((r) => setImmediate(r));

test('acks of one tick: one command, one promise for all of them', async () => {
  const { store, calls } = scripted(async () => []);
  const a = store.remove('t1');
  const b = store.remove('t2');
  const c = store.remove('t3');
  assert.equal(a, b, 'the acks of one batch share their promise');
  assert.equal(b, c);
  await Promise.all([a, b, c]);
  assert.deepEqual(calls, [{ removed: ['t1', 't2', 't3'], fetch: false }]);
  const d = store.remove('t4');
  assert.notEqual(d, a, 'a later tick is a new batch');
  await d;
  assert.deepEqual(calls[1], { removed: ['t4'], fetch: false });
});

test('acks held for a fetch ride with it and settle with its reply', async () => {
  const { store, calls } = scripted(async () => []);
  store.holdRemovals();
  const a = store.remove('t1');
  const b = store.remove('t2');
  await turn();
  assert.equal(calls.length, 0, 'held: not sent on their own');
  const fetched = store.fetchBatch(['q'], 1, 4, false);
  store.releaseRemovals();
  await fetched;
  assert.deepEqual(await Promise.all([settled(a), settled(b)]), ['ok', 'ok']);
  assert.deepEqual(calls, [{ removed: ['t1', 't2'], fetch: true }]);
});

test('a fetch that fails: its acks go out again with those queued since, and all settle with that command', async () => {
  let fail = true;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { store, calls } = scripted(async (c) => {
    if (c.fetch && fail) {
      await gate;
      throw new Error('connection lost');
    }
    return [];
  });
  store.holdRemovals();
  const a = store.remove('t1');
  const fetched = settled(store.fetchBatch(['q'], 1, 4, false));
  store.releaseRemovals();
  const b = store.remove('t2'); // queued while the fetch is in flight
  fail = false;
  release();
  assert.equal(await fetched, 'failed: connection lost');
  assert.deepEqual(await Promise.all([settled(a), settled(b)]), ['ok', 'ok']);
  assert.deepEqual(calls.map((c) => c.removed), [['t1'], ['t1', 't2']], 'the failed fetch\'s acks first, then the later ones');
});

test('a removal command that fails rejects every ack of its batch', async () => {
  const { store } = scripted(async () => {
    throw new Error('connection lost');
  });
  const a = settled(store.remove('t1'));
  const b = settled(store.remove('t2'));
  assert.deepEqual(await Promise.all([a, b]), ['failed: connection lost', 'failed: connection lost']);
});
