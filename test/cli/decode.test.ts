// `celeriac decode`: reads one raw message on stdin, prints the logical message; bad input -> ProtocolError, exit 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import { PyDateTime, type PyDict } from '../../protocol/values.ts';

function run(input: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/celeriac.js', 'decode', ...args], { input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function fixture(path: string): PyDict {
  return parseKombuJson(readFileSync(`fixtures/${path}.json`, 'utf8')) as PyDict;
}
const capture = (path: string, i = 0) => (fixture(path).captures as PyDict[])[i]!;

test('decode prints a Redis message from Python Celery with kombu type tags and exact big ints', () => {
  const { code, out } = run(capture('redis/special_types_json').raw as string, '--pretty');
  assert.equal(code, 0);
  const msg = parseKombuJson(out) as PyDict;
  assert.equal(msg.protocol, 2);
  assert.equal((msg.headers as PyDict).task, 'tsrec.echo');
  const body = msg.body as PyDict;
  assert.ok((body.args as unknown[])[0] instanceof PyDateTime);
  assert.equal((body.kwargs as PyDict).big, 1180591620717411303424n);
  assert.deepEqual(Object.keys(body.embed as PyDict).sort(), ['callbacks', 'chain', 'chord', 'errbacks']);
});

test('decode reads compressed msgpack and a protocol v1 message', () => {
  const zstd = parseKombuJson(run(capture('redis/compression_msgpack_zstd').raw as string).out) as PyDict;
  assert.equal((zstd.headers as PyDict).compression, 'application/zstd');
  const v1 = parseKombuJson(run(capture('redis/protocol_v1').raw as string).out) as PyDict;
  assert.equal(v1.protocol, 1);
  assert.deepEqual((v1.body as PyDict).args, [1, 2]);
});

test('decode reads an AMQP message given as JSON, including the RabbitMQ management API form', () => {
  const c = capture('amqp/delay_args_kwargs');
  const expected = c.expected as PyDict;
  const ours = run(JSON.stringify({ body: c.body_b64, headers: expected.headers,
    properties: { ...(expected.properties as PyDict), content_type: expected.content_type, content_encoding: expected.content_encoding },
    delivery_info: expected.delivery_info }));
  assert.equal(ours.code, 0, ours.err);
  const mgmt = run(JSON.stringify([{ payload: Buffer.from(c.body_b64 as string, 'base64').toString('utf8'),
    payload_encoding: 'string', routing_key: 'tsrec.q', exchange: '',
    properties: { ...(expected.properties as PyDict), content_type: 'application/json', content_encoding: 'utf-8', headers: expected.headers } }]));
  assert.equal(mgmt.code, 0, mgmt.err);
  for (const out of [ours.out, mgmt.out]) {
    const msg = parseKombuJson(out) as PyDict;
    assert.deepEqual((msg.body as PyDict).args, (expected.body as unknown[])[0]);
  }
});

test('decode --headers-only never touches the body (a pickle body still shows its headers)', () => {
  const { code, out } = run(capture('redis/serializer_pickle').raw as string, '--headers-only');
  assert.equal(code, 0);
  assert.equal(((parseKombuJson(out) as PyDict).headers as PyDict).task, 'tsrec.add');
});

test('decode refuses bad input with a ProtocolError naming the part, and exit status 65 (EX_DATAERR)', () => {
  const cases: [string, RegExp][] = [
    ['', /envelope: no input/],
    ['garbage', /envelope: input is not a JSON message/],
    ['{"foo": 1}', /envelope: not a message/],
    [capture('redis/serializer_pickle').raw as string, /ContentDisallowed: content-type: .*application\/x-python-serialize.*accept_content/],
    [(capture('redis/delay_args_kwargs').raw as string).replace(/"body": "[^"]*"/, '"body": "!!!"'), /envelope/],
    [JSON.stringify({ body: 'eyJ4IjogMX0=', properties: { content_type: 'application/json', content_encoding: 'utf-8' }, headers: { task: 'a', id: 'b' } }), /body/],
  ];
  for (const [input, re] of cases) {
    const { code, err, out } = run(input);
    assert.equal(code, 65, `exit code for ${input.slice(0, 40)}: ${out}`);
    assert.match(err, re);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  }
});
