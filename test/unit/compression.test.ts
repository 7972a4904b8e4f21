import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../protocol/errors.ts';
import { COMPRESSIONS, compress, decompress } from '../../protocol/compression.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const DATA = new TextEncoder().encode('{"hello": "celeriac", "n": [1, 2, 3]}'.repeat(3));

// kombu.compression.compress(DATA, alias) with Python 3.11 / kombu 5.6.2.
const FROM_PYTHON: Record<string, [string, string]> = {
  zlib: ['application/x-gzip', 'eJyrVspIzcnJV7JSUEpOzUktykxMVtJRUMoDCkQb6igY6SgYx9ZWU00RAASvHy0='],
  bzip2: ['application/x-bz2', 'QlpoOTFBWSZTWS3JgVoAADWbgFAEOBAACiplkAogAFRX6o0AAZCP1UjQHqD1BmxRFm6lMnqzRq2SvC8LJU6XSp4QUVwgg8gMMfF3JFOFCQLcmBWg'],
  brotli: ['application/x-brotli', 'G24A+B0Hbqx4m8NFKh0EcbbULzS0KJkJNhO+2ieLTleA1CQYFg3JOL4dRNbU60iw5ELZ/wA='],
  xz: ['application/x-lzma', '/Td6WFoAAATm1rRGAgAhARYAAAB0L+Wj4ABuACldAD2IiQaUIrvaAz7cbtXLLwWyNIHhieLYc45M5lhEZ27XbNRVOLtyTzAAAAAAAHBoUZw7IPkRAAFFb6JyhXAftvN9AQAAAAAEWVo='],
  zstd: ['application/zstd', 'KLUv/SBvbQEAVAJ7ImhlbGxvIjogImNlbGVyaWFjIiwgIm4iOiBbMSwgMiwgM119AQA9hKon'],
};

test('aliases and header values match kombu', () => {
  assert.deepEqual(
    COMPRESSIONS.map((c) => [c.contentType, [...c.aliases].sort()]),
    [
      ['application/x-gzip', ['gzip', 'zlib']],
      ['application/x-bz2', ['bzip', 'bzip2']],
      ['application/x-brotli', ['brotli']],
      ['application/x-lzma', ['lzma', 'xz']],
      ['application/zstd', ['zstandard', 'zstd']],
    ],
  );
  for (const c of COMPRESSIONS) {
    for (const a of [...c.aliases, c.contentType]) assert.equal(compress(DATA, a).compression, c.contentType);
  }
});

test('gzip alias is a zlib stream (RFC 1950), like kombu', () => {
  const { body } = compress(DATA, 'gzip');
  assert.equal(body[0], 0x78);
  assert.equal(body[1], 0x9c);
});

for (const [alias, [mime, data]] of Object.entries(FROM_PYTHON)) {
  test(`${alias}: decodes bytes from Python and round-trips`, () => {
    assert.deepEqual(decompress(b64(data), mime), DATA);
    assert.deepEqual(decompress(b64(data), alias), DATA);
    const c = compress(DATA, alias);
    assert.equal(c.compression, mime);
    const back = decompress(c.body, c.compression);
    assert.deepEqual(back, DATA);
    assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
    assert.deepEqual(decompress(compress(new Uint8Array(0), alias).body, mime), new Uint8Array(0));
  });

  test(`${alias}: garbage and truncated input -> ProtocolError(part compression) naming the scheme`, () => {
    for (const bad of [new TextEncoder().encode('garbage!garbage!'), new Uint8Array(0), b64(data).subarray(0, 20)]) {
      assert.throws(
        () => decompress(bad, mime),
        (e: unknown) => e instanceof ProtocolError && e.part === 'compression' && e.message.includes(mime),
      );
    }
  });

  test(`${alias}: refuses to inflate beyond maxSize`, () => {
    const { body } = compress(new Uint8Array(1_000_000), alias);
    assert.throws(() => decompress(body, mime, { maxSize: 1000 }), (e: unknown) => e instanceof ProtocolError && /exceeds/.test(e.message));
    assert.equal(decompress(body, mime, { maxSize: 1_000_000 }).length, 1_000_000);
  });
}

test('unknown scheme lists the known ones', () => {
  for (const f of [() => compress(DATA, 'lz4'), () => decompress(DATA, 'application/x-lz4')]) {
    assert.throws(f, (e: unknown) => e instanceof ProtocolError && e.part === 'compression' && /zstd/.test(e.message) && /application\/x-gzip/.test(e.message));
  }
});
