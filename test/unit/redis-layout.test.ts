// kombu's Redis layout as pure functions: known answers computed with real kombu 5.6.2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyToPattern, lookupQueues, prepareBind, topicMatch } from '../../src/brokers/redis/exchange.ts';
import { joinUnacked, markRedelivered, splitUnacked } from '../../src/brokers/redis/jsontext.ts';
import { pythonJsonStr } from '../../protocol/serialization/pywrite.ts';
import { messagePriority, QueueCycle, RedisKeys } from '../../src/brokers/redis/keys.ts';
import { resolveRedisOptions } from '../../src/brokers/redis/options.ts';

// TopicExchange(None).key_to_pattern(k), and which routing keys kombu's _match accepts
const PATTERNS: Record<string, string> = {
  'tsrec.topic.#': '^tsrec\\.topic\\..*?$', 'a.*.#': '^a\\..*?[^\\.]\\..*?$', 'a-b.c_d.*': '^a\\-b\\.c\\_d\\..*?[^\\.]$',
  '*': '^.*?[^\\.]$', '#': '^.*?$', 'x.y$z': '^x\\.y\\$z$', 'é.ü': '^é\\.ü$', 'a*b.#c': '^a*b\\.#c$',
};
const MATCHES: Record<string, string[]> = {
  'tsrec.topic.#': ['tsrec.topic.foo'], 'a.*.#': ['a.b.c'], 'a-b.c_d.*': ['a-b.c_d.e'],
  '*': ['a.b.c', 'a.b', 'a', 'tsrec.topic.foo', 'tsrec.topic', 'é.ü', 'a-b.c_d.e'],
  '#': ['a.b.c', 'a.b', 'a', 'tsrec.topic.foo', 'tsrec.topic', '', 'é.ü', 'a-b.c_d.e', 'a-b.c_d.'],
  'x.y$z': [], 'é.ü': ['é.ü'], 'a*b.#c': [],
};
const ROUTING_KEYS = ['a.b.c', 'a.b', 'a', 'tsrec.topic.foo', 'tsrec.topic', '', 'é.ü', 'a-b.c_d.e', 'a-b.c_d.'];

test('topic binding patterns and matches are kombu\'s', () => {
  for (const [key, pattern] of Object.entries(PATTERNS)) {
    assert.equal(keyToPattern(key), pattern, key);
    assert.deepEqual(ROUTING_KEYS.filter((rk) => topicMatch(pattern, rk)), MATCHES[key], key);
  }
  const table = [prepareBind('topic', 'a.*.#', 'q1'), prepareBind('topic', '#', 'q2'), prepareBind('direct', 'a.b.c', 'q3')];
  // an empty pattern (a direct binding in a topic table) matches everything: Python's re.match('', s)
  assert.deepEqual(lookupQueues('topic', table, 'a.b.c'), ['q1', 'q2', 'q3']);
  assert.deepEqual(lookupQueues('topic', table.slice(0, 2), 'x'), ['q2']);
  assert.deepEqual(lookupQueues('direct', table, 'a.b.c'), ['q3']);
  assert.deepEqual(lookupQueues('fanout', table, 'zzz'), ['q1', 'q2', 'q3']);
});

test('priority keys: clamp 0..9, largest step <= p (Python bisect, also for steps not starting at 0)', () => {
  const keys = new RedisKeys(resolveRedisOptions({}, 0));
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => keys.step(n)), [0, 0, 0, 3, 3, 3, 6, 6, 6, 9]);
  const odd = new RedisKeys(resolveRedisOptions({ priority_steps: [2, 5] }, 0));
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => odd.step(n)), [5, 5, 2, 2, 2, 5, 5, 5, 5, 5]);
  assert.deepEqual([undefined, null, 'high', '5.0', '7', 4.9, -3, 42, true, 12n].map(messagePriority), [0, 0, 0, 0, 7, 4, 0, 9, 1, 9]);
  assert.equal(keys.queueKey('q', 0), 'q');
  assert.equal(keys.queueKey('q', 7), 'q\x06\x166');
  const p = new RedisKeys(resolveRedisOptions({ global_keyprefix: 'pfx:' }, 3));
  assert.deepEqual(p.brpopKeys(['a', 'b']).keys, [
    'pfx:a', 'pfx:b', 'pfx:a\x06\x163', 'pfx:b\x06\x163', 'pfx:a\x06\x166', 'pfx:b\x06\x166', 'pfx:a\x06\x169', 'pfx:b\x06\x169',
  ]);
  assert.equal(p.fanoutChannel('celeryev', 'worker.heartbeat'), 'pfx:/3.celeryev/worker.heartbeat');
  assert.equal(p.fanoutChannel('celery.pidbox', ''), 'pfx:/3.celery.pidbox');
  assert.equal(new RedisKeys(resolveRedisOptions({ fanout_prefix: false, fanout_patterns: false }, 3)).fanoutChannel('e', 'rk'), 'e');
  assert.equal(p.bindingKey('ex'), 'pfx:_kombu.binding.ex');
  assert.deepEqual(p.parseBindingMember('rk\x06\x16\x06\x16q'), { routingKey: 'rk', pattern: '', queue: 'q' });
});

test('round_robin moves the queue that delivered to the end', () => {
  const c = new QueueCycle(['a', 'b', 'c'], 'round_robin');
  c.rotate('a');
  assert.deepEqual(c.consume(), ['b', 'c', 'a']);
  const s = new QueueCycle(['c', 'a', 'b'], 'sorted');
  s.rotate('a');
  assert.deepEqual(s.consume(), ['a', 'b', 'c']);
});

test('redelivered flags are spliced into the text where kombu puts them, nothing else changes', () => {
  const py = '{"body": "e30=", "headers": {"id": "x", "f": 1.0}, "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}, "priority": 0}}';
  assert.equal(
    markRedelivered(py),
    '{"body": "e30=", "headers": {"id": "x", "f": 1.0, "redelivered": true}, "properties": {"delivery_info": {"exchange": "", "routing_key": "q", "redelivered": true}, "priority": 0}}',
  );
  assert.equal(markRedelivered('{"headers":{},"properties":{"delivery_info":{"redelivered":false}}}'), '{"headers":{"redelivered": true},"properties":{"delivery_info":{"redelivered":true}}}');
  assert.equal(markRedelivered('{"headers": null, "properties": {}}'), '{"headers": null, "properties": {}}');
  assert.throws(() => markRedelivered('{"headers": '), SyntaxError);
});

test('unacked hash values: [envelope, exchange, routing_key] with the envelope bytes verbatim', () => {
  const env = '{"a": [1, {"b": "]"}], "c": "\\u00e9"}';
  const v = joinUnacked(Buffer.from(env), 'ex', 'ké');
  assert.equal(v.toString(), `[${env}, "ex", "k\\u00e9"]`);
  assert.deepEqual(splitUnacked(v.toString()), { envelope: env, exchange: 'ex', routingKey: 'ké' });
  assert.equal(pythonJsonStr('a\x7f\u2028"'), '"a\\u007f\\u2028\\""');
});
