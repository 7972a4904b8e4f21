// Unit tests of the remote-control pieces that need no broker: rate strings and the token bucket,
// the revoked LimitedSet (mingle's wire form), destination/pattern matching, the fanout channel name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LimitedSet, monotonic } from '../../src/worker/control/revoked.ts';
import { pidboxQueue, LamportClock } from '../../src/worker/control/mailbox.ts';
import { replyQueueFor } from '../../src/control/mailbox.ts';
import { addressedTo, matchHostname } from '../../src/worker/pidbox.ts';
import { rate, RateLimiter, TokenBucket } from '../../src/worker/ratelimit.ts';
import { RedisKeys } from '../../src/brokers/redis/keys.ts';
import { resolveRedisOptions } from '../../src/brokers/redis/options.ts';
import { DEFAULT_SETTINGS } from '../../src/config.ts';

test('rate(): celery.utils.time.rate', () => {
  assert.equal(rate('10/s'), 10);
  assert.equal(rate('120/m'), 2);
  assert.equal(rate('3600/h'), 1);
  assert.equal(rate('5'), 5);
  assert.equal(rate(2.5), 2.5);
  assert.equal(rate(null), 0);
  assert.equal(rate(''), 0);
  assert.throws(() => rate('x/s'));
  assert.throws(() => rate('1/d'));
});

test('TokenBucket(capacity 1): one token at once, the next after 1/rate seconds', () => {
  const b = new TokenBucket<number>(2);
  assert.equal(b.canConsume(), true);
  assert.equal(b.canConsume(), false);
  const wait = b.expectedTime();
  assert.ok(wait > 0.4 && wait <= 0.5, String(wait));
});

test('RateLimiter holds tasks of a limited name without holding up the others; reset applies a new limit', async () => {
  const moved: string[] = [];
  const limits = new Map<string, string | null>([['slow', '20/s']]);
  const rl = new RateLimiter<string>((n) => limits.get(n) ?? null, (x) => void moved.push(x));
  rl.submit('slow', 's1');
  rl.submit('slow', 's2');
  rl.submit('fast', 'f1');
  assert.deepEqual(moved, ['s1', 'f1']);
  assert.deepEqual(rl.waiting(), ['s2']);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(moved, ['s1', 'f1', 's2']);
  limits.set('slow', null);
  rl.reset();
  rl.submit('slow', 's3');
  rl.submit('slow', 's4');
  assert.deepEqual(moved.slice(3), ['s3', 's4']);
  const off = new RateLimiter<string>(() => '1/h', (x) => void moved.push(x), true);
  off.submit('x', 'd1');
  off.submit('x', 'd2');
  assert.deepEqual(moved.slice(5), ['d1', 'd2'], 'worker_disable_rate_limits');
  assert.deepEqual(rl.stop(), []);
});

test('LimitedSet: mingle wire form {id: [float time, id]}, update from it, expiry and maxlen', () => {
  const t = Math.floor(monotonic());
  const s = new LimitedSet({ maxlen: 3, expires: 100 });
  s.add('a', t);
  s.add('b', t + 0.5);
  const data = s.toData();
  assert.deepEqual(data.b, [t + 0.5, 'b']);
  assert.ok(!Number.isInteger(data.a![0]), 'times stay floats on the wire');
  const r = new LimitedSet({ maxlen: 3, expires: 100 });
  r.update(data);
  assert.deepEqual([...r], ['a', 'b']);
  r.update({ c: t - 5.5 });
  assert.deepEqual([...r], ['c', 'a', 'b'], 'oldest first');
  r.add('d', t + 1);
  assert.equal(r.size, 3, 'full: the oldest dropped');
  assert.ok(!r.has('c'));
  r.purge(t + 100.2);
  assert.deepEqual([...r], ['b', 'd'], 'expired after 100 s');
  assert.throws(() => r.update({ e: 'x' }));
});

test('addressedTo: destination list, pattern + matcher (glob, pcre), else everyone', () => {
  const h = 'ts.q@host';
  assert.equal(addressedTo({ destination: null }, h), true);
  assert.equal(addressedTo({ destination: [] }, h), true);
  assert.equal(addressedTo({ destination: ['other@host'] }, h), false);
  assert.equal(addressedTo({ destination: ['other@host', h] }, h), true);
  assert.equal(addressedTo({ destination: null, pattern: 'ts.*', matcher: 'glob' }, h), true);
  assert.equal(addressedTo({ destination: null, pattern: 'py.*', matcher: 'glob' }, h), false);
  assert.equal(matchHostname(h, '^ts\\.', 'pcre'), true);
  assert.equal(matchHostname(h, 'q@h?st', 'glob'), false);
});

test("pidbox queues with kombu's arguments; the fanout channel as kombu's _get_publish_topic", () => {
  const q = pidboxQueue(DEFAULT_SETTINGS, 'ts@host');
  assert.equal(q.name, 'ts@host.celery.pidbox');
  assert.deepEqual(q.exchange, { name: 'celery.pidbox', type: 'fanout', durable: false, autoDelete: false });
  assert.equal(q.durable, false);
  assert.equal(q.autoDelete, true);
  assert.equal(q.exclusive, false);
  assert.deepEqual(q.arguments, { 'x-expires': 10000, 'x-message-ttl': 300000 });
  const r = replyQueueFor(DEFAULT_SETTINGS, 'oid');
  assert.equal(r.name, 'oid.reply.celery.pidbox');
  assert.equal(r.routingKey, 'oid');
  assert.equal(new RedisKeys(resolveRedisOptions({}, 8)).fanoutChannel('celery.pidbox', ''), '/8.celery.pidbox');
  assert.equal(new RedisKeys(resolveRedisOptions({ global_keyprefix: 'p:' }, 0)).fanoutChannel('celery.pidbox', ''), 'p:/0.celery.pidbox');
  assert.equal(new RedisKeys(resolveRedisOptions({ fanout_prefix: false }, 8)).fanoutChannel('celery.pidbox', ''), 'celery.pidbox');
  const c = new LamportClock();
  assert.equal(c.adjust(10), 11);
  assert.equal(c.forward(), 12);
});
