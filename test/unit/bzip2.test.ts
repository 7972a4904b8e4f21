// protocol/bzip2.ts against Python's bz2 (kombu's bzip2 is bz2.compress / bz2.decompress): Python's
// outputs at levels 1, 5 and 9 decode to the same bytes, concatenated streams and trailing bytes end as
// bz2.decompress ends them, corrupt bodies (flipped bits, truncations) are refused wherever Python
// refuses them, and the output comes a bounded chunk at a time (one block can expand to ~46 MB).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { bzip2Decoder } from '../../protocol/bzip2.ts';
import { decompress, decompressAsync } from '../../protocol/compression.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { PYTHON } from '../helpers/peers.ts';

/** Each case: the body, and what bz2.decompress made of it (sha256 and length of the output, or the exception). */
const PY = String.raw`
import base64, bz2, hashlib, json, random
random.seed(15)
text = ' '.join(str(i * 7919 % 100003) for i in range(400000)).encode()
runs = b''.join(bytes([n % 256]) * n for n in range(1, 600))  # RLE1 edges: runs of 1..599 (4, 5, 259, 260 ...)
shuffled = bytearray(b''.join(bytes([i]) * 4000 for i in range(256))); random.shuffle(shuffled)
inputs = {'empty': b'', 'hello': b'hello', 'text': text, 'random': random.randbytes(300_000), 'zeros': bytes(3 << 20),
          'runs': runs, 'bytes': bytes(shuffled), 'one-symbol': b'a' * 1000}
cases = {}
def case(name, body):
    try:
        out = bz2.decompress(body)
        cases[name] = {'body': base64.b64encode(body).decode(), 'sha': hashlib.sha256(out).hexdigest(), 'size': len(out)}
    except Exception as e:
        cases[name] = {'body': base64.b64encode(body).decode(), 'error': type(e).__name__ + ': ' + str(e)}
for name, data in inputs.items():
    for level in (1, 5, 9):
        case(f'{name} level {level}', bz2.compress(data, level))
a, b, e = bz2.compress(text[:50000], 1), bz2.compress(runs, 9), bz2.compress(b'', 5)
case('three streams', a + b + e)
case('stream + zero padding', a + bytes(7))
case('stream + junk', a + b'junk')
case('stream + BZh9 and junk', a + b'BZh9' + b'junk' * 4)
case('stream + B', a + b'B')
case('stream + BZh9', a + b'BZh9')
case('stream + truncated stream', a + b[:-10])
case('truncated', a[:-1])
case('not bzip2', b'garbage!garbage!')
# flipped bits and truncations of one stream: outcome must match Python's (decoded alike, or refused)
small = bz2.compress(text[:30000], 9)
for i in range(150):
    m = bytearray(small)
    for _ in range(random.randint(1, 3)):
        p = random.randrange(len(m)); m[p] ^= 1 << random.randrange(8)
    case(f'mutant {i}', bytes(m))
for n in sorted(random.sample(range(1, len(small)), 40)):
    case(f'prefix {n}', small[:n])
print(json.dumps(cases))
`;

interface Case { body: string; sha?: string; size?: number; error?: string }
const CASES = JSON.parse(execFileSync(resolve(PYTHON), ['-c', PY], { encoding: 'utf8', maxBuffer: 256 << 20 })) as Record<string, Case>;

/** Every chunk, and whether each was at most 64 KiB. */
function decodeAll(body: Uint8Array): { out: Buffer; chunks: number; largest: number } {
  const d = bzip2Decoder(body);
  const parts: Buffer[] = [];
  let largest = 0;
  try {
    for (let c = d.next(); c !== null; c = d.next()) {
      largest = Math.max(largest, c.length);
      if (c.length) parts.push(Buffer.from(c));
    }
  } finally {
    d.dispose();
  }
  return { out: Buffer.concat(parts), chunks: parts.length, largest };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('bzip2 decoder against Python bz2', () => {
  for (const [name, c] of Object.entries(CASES)) {
    if (name.startsWith('mutant') || name.startsWith('prefix')) continue;
    test(`${name}: ${c.error ? `refused (Python: ${c.error})` : `${c.size} bytes`}`, () => {
      const body = Buffer.from(c.body, 'base64');
      if (c.error) {
        assert.throws(() => decodeAll(body), Error);
        assert.throws(() => decompress(body, 'bzip2'), (e: unknown) => e instanceof ProtocolError && e.message.includes('application/x-bz2'));
        return;
      }
      const { out, largest } = decodeAll(body);
      assert.equal(out.length, c.size);
      assert.equal(sha(out), c.sha);
      assert.ok(largest <= 64 << 10, `a chunk of ${largest} bytes`);
      if (c.size) assert.equal(sha(decompress(body, 'application/x-bz2', { maxSize: c.size })), c.sha);
    });
  }

  test('flipped bits and truncations: decoded to the same bytes where Python decodes, refused where it refuses', () => {
    const diverged: string[] = [];
    let refused = 0;
    for (const [name, c] of Object.entries(CASES)) {
      if (!name.startsWith('mutant') && !name.startsWith('prefix')) continue;
      let got: string;
      try {
        got = sha(decodeAll(Buffer.from(c.body, 'base64')).out);
      } catch (e) {
        assert.ok(e instanceof Error && /^(bzip2: |not a bzip2 stream)/.test(e.message), `${name}: ${String(e)}`);
        got = 'refused';
        refused++;
      }
      if (got !== (c.error ? 'refused' : c.sha)) diverged.push(`${name}: python ${c.error ?? 'decoded'}, here ${got === 'refused' ? got : 'decoded'}`);
    }
    assert.deepEqual(diverged, []);
    assert.ok(refused > 100, `only ${refused} refused`);
  });

  test('corrupt CRCs are refused with the reason', () => {
    const body = Buffer.from(CASES['text level 9']!.body, 'base64');
    const blockCrc = Buffer.from(body);
    blockCrc[10]! ^= 1; // the first block's CRC: bytes 10-13, after 'BZh9' and the 6-byte magic
    assert.throws(() => decodeAll(blockCrc), /bzip2: block CRC mismatch \(data is corrupt\): stored/);
    const streamCrc = Buffer.from(body);
    streamCrc[streamCrc.length - 2]! ^= 0x10; // inside the stream CRC, whatever the final padding
    assert.throws(() => decodeAll(streamCrc), /bzip2: (stream CRC mismatch|corrupt data)/);
    assert.throws(() => decompress(blockCrc, 'bzip2'), /application\/x-bz2 \(bzip2\/bzip\): cannot decompress body: bzip2: block CRC mismatch/);
  });

  test('70000 empty streams decode to nothing, a bounded number of them per step', () => {
    const body = execFileSync(resolve(PYTHON), ['-c', 'import bz2,sys; sys.stdout.buffer.write(bz2.compress(b"") * 70000)']);
    const d = bzip2Decoder(body);
    let steps = 0;
    for (let c = d.next(); c !== null; c = d.next()) {
      assert.equal(c.length, 0);
      steps++;
    }
    assert.ok(steps > 10, `${steps} steps`);
    assert.equal(decompress(body, 'bzip2').length, 0);
  });

  test('one block that expands to 40 MiB comes out 64 KiB at a time, and decompress stops at the limit', async () => {
    const body = execFileSync(resolve(PYTHON), ['-c', 'import bz2,sys; sys.stdout.buffer.write(bz2.compress(bytes(40 << 20), 9))']);
    assert.ok(body.length < 200, `${body.length} bytes: one block`);
    const { out, chunks, largest } = decodeAll(body);
    assert.equal(out.length, 40 << 20);
    assert.ok(out.every((b) => b === 0));
    assert.equal(largest, 64 << 10);
    assert.ok(chunks >= 640, `${chunks} chunks`);
    const refusal = /application\/x-bz2 \(bzip2\/bzip\): decompressed body exceeds the limit of 1000000 bytes/;
    assert.throws(() => decompress(body, 'bzip2', { maxSize: 1_000_000 }), refusal);
    await assert.rejects(decompressAsync(body, 'bzip2', { maxSize: 1_000_000 }), refusal);
  });
});
