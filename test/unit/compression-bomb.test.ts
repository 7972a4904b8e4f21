// Decompression bombs: every scheme stops at the limit while it decompresses, whatever the headers inside
// claim (lying or missing sizes) and across concatenated members; the worker refuses such a message.
// Bombs are small inputs that expand far past a lowered limit; xz, legacy lzma, bzip2 and zstd bombs come
// from Python's own compressors (one Python process), zlib and brotli from node:zlib.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import { createTaskMessage, encodeTaskMessage } from '../../protocol/index.ts';
import { decompress, decompressAsync } from '../../protocol/compression.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';
import { PYTHON } from '../helpers/peers.ts';

const MiB = 1 << 20;
const LIMIT = 1 * MiB;

const PY = String.raw`
import base64, bz2, json, lzma, struct, zstandard
Z = bytes
def b(x): return base64.b64encode(x).decode()
out = {}
out['xz'] = lzma.compress(Z(8 << 20))
# three streams of 512 KiB, stream padding between two of them: each alone is under the limit
part = lzma.compress(Z(512 << 10))
out['xz-multi'] = part + Z(4) + part + part
alone = lzma.compress(Z(8 << 20), format=lzma.FORMAT_ALONE)
out['lzma-alone-nosize'] = alone
out['lzma-alone-lying'] = alone[:5] + struct.pack('<Q', 100) + alone[13:]
out['bzip2'] = bz2.compress(Z(8 << 20))
bpart = bz2.compress(Z(512 << 10))
out['bzip2-multi'] = bpart * 3
out['zstd'] = zstandard.ZstdCompressor(level=3).compress(Z(8 << 20))
nosize = zstandard.ZstdCompressor(level=3, write_content_size=False)
out['zstd-nosize'] = nosize.compress(Z(8 << 20))
out['zstd-multi'] = nosize.compress(Z(512 << 10)) * 3
out['zstd-multi-sized'] = zstandard.ZstdCompressor(level=3).compress(Z(512 << 10)) * 3
# a frame whose header says 100 bytes (2-byte Frame_Content_Size field, FCS_Flag=1) over 8 MiB of zeros
f = bytearray(nosize.compress(Z(8 << 20)))
assert f[4] & 0xC0 == 0 and not f[4] & 0x20
f[4] |= 0x40
f[6:6] = struct.pack('<H', 0)  # 0 + 256 = 256 bytes declared
out['zstd-lying'] = bytes(f)
print(json.dumps({k: b(v) for k, v in out.items()}))
`;

const bombs: Record<string, Uint8Array> = Object.fromEntries(
  Object.entries(JSON.parse(execFileSync(resolve(PYTHON), ['-c', PY], { encoding: 'utf8', maxBuffer: 64 * MiB }))).map(
    ([k, v]) => [k, new Uint8Array(Buffer.from(v as string, 'base64'))],
  ),
);
bombs.zlib = zlib.deflateSync(Buffer.alloc(8 * MiB));
bombs.brotli = zlib.brotliCompressSync(Buffer.alloc(8 * MiB));
// a zstd frame that needs a 2 GiB window (Window_Descriptor exponent 21) and says nothing else
bombs['zstd-window'] = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00]);

const CASES: [string, string, RegExp][] = [
  // [bomb, compression header, what the refusal says besides the scheme]
  ['zlib', 'application/x-gzip', /exceeds the limit of 1048576 bytes/],
  ['brotli', 'application/x-brotli', /exceeds the limit/],
  ['bzip2', 'application/x-bz2', /exceeds the limit/],
  ['bzip2-multi', 'application/x-bz2', /exceeds the limit/],
  ['xz', 'application/x-lzma', /exceeds the limit/],
  ['xz-multi', 'application/x-lzma', /exceeds the limit/],
  ['lzma-alone-nosize', 'application/x-lzma', /without a declared size is refused/],
  ['lzma-alone-lying', 'application/x-lzma', /exceeds the limit|cannot decompress/],
  ['zstd', 'application/zstd', /exceeds the limit .*declares 8388608 bytes/],
  ['zstd-nosize', 'application/zstd', /exceeds the limit/],
  ['zstd-multi', 'application/zstd', /exceeds the limit/],
  ['zstd-multi-sized', 'application/zstd', /exceeds the limit .*declares/],
  ['zstd-lying', 'application/zstd', /exceeds the limit|cannot decompress/],
  ['zstd-window', 'application/zstd', /window/],
];

const refused = (mime: string, why: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`);
  assert.equal(e.part, 'compression');
  assert.ok(e.message.includes(mime), `the scheme is not named: ${e.message}`);
  assert.match(e.message, why);
  return true;
};

describe('decompression bombs are refused while decompressing', () => {
  for (const [name, mime, why] of CASES) {
    test(`${name}: ${bombs[name]!.length} bytes, refused by decompress and decompressAsync`, async () => {
      assert.throws(() => decompress(bombs[name]!, mime, { maxSize: LIMIT }), refused(mime, why));
      await assert.rejects(decompressAsync(bombs[name]!, mime, { maxSize: LIMIT }), refused(mime, why));
    });
  }

  test('the same bodies decode in full when the limit allows them (the refusal is the cap, not an error)', async () => {
    for (const [name, mime, size] of [['zlib', 'application/x-gzip', 8], ['bzip2-multi', 'application/x-bz2', 1.5], ['xz-multi', 'application/x-lzma', 1.5],
      ['zstd-multi', 'application/zstd', 1.5], ['zstd-nosize', 'application/zstd', 8], ['brotli', 'application/x-brotli', 8]] as const) {
      const want = size * MiB;
      assert.equal(decompress(bombs[name]!, mime, { maxSize: want }).length, want, name);
      assert.equal((await decompressAsync(bombs[name]!, mime, { maxSize: want })).length, want, name);
      assert.throws(() => decompress(bombs[name]!, mime, { maxSize: want - 1 }), refused(mime, /exceeds/));
    }
  });

  for (const [scheme, mime, module] of [['xz', 'application/x-lzma', 'lzma'], ['bzip2', 'application/x-bz2', 'bz2']] as const) {
    test(`decompressAsync lets the event loop run while it inflates (${scheme}, 32 MiB)`, async () => {
      const big = execFileSync(resolve(PYTHON), ['-c', `import ${module},sys; sys.stdout.buffer.write(${module}.compress(bytes(64 << 20)))`]);
      let turns = 0;
      let on = true;
      const spin = () => {
        turns++;
        if (on) setImmediate(spin);
      };
      setImmediate(spin);
      await assert.rejects(decompressAsync(big, scheme, { maxSize: 32 * MiB }), refused(mime, /exceeds/));
      on = false;
      assert.ok(turns > 2, `the loop turned ${turns} times during the decode`);
    });
  }
});

describe('the worker refuses a bomb with the reason and rejects it (not requeued)', () => {
  test('zstd frames of 1 GiB: rejected; a compressed valid message still runs', async () => {
    const broker = new MemBroker();
    const backend = new MemBackend();
    const app = new Celery({ broker_url: 'redis://x', result_backend: 'redis://y', env: {}, createBroker: () => broker, createBackend: () => backend });
    app.task('t.add', (x: number, y: number) => x + y);
    const w = new Worker(app, { logger: silentLogger, queues: ['q'] });
    const rejected: unknown[] = [];
    w.on('message-rejected', (err: unknown) => rejected.push(err));
    await w.start();
    const bomb = encodeTaskMessage(createTaskMessage({ task: 't.add', id: 'bomb1', args: [2, 3] }), { deliveryInfo: { exchange: '', routing_key: 'q' } });
    // 64 frames of 16 MiB of zeros (1 GiB; each frame header declares its 16 MiB, the total passes 256 MiB)
    const frame = decompressFrame16();
    bomb.headers.compression = 'application/zstd';
    bomb.body = Buffer.concat(Array.from({ length: 64 }, () => frame));
    broker.deliver(bomb);
    const good = encodeTaskMessage(createTaskMessage({ task: 't.add', id: 'ok1', args: [2, 3] }), { deliveryInfo: { exchange: '', routing_key: 'q' }, compression: 'xz' });
    broker.deliver(good);
    const end = Date.now() + 20_000;
    while (!(broker.log.includes('reject:bomb1') && backend.states('ok1').includes('SUCCESS')) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.ok(broker.log.includes('reject:bomb1'), broker.log.join(','));
    assert.equal((await backend.getTaskMeta('ok1')).result, 5);
    assert.equal(rejected.length, 1);
    assert.match(String((rejected[0] as Error).message), /application\/zstd \(zstd\/zstandard\): decompressed body exceeds the limit of 268435456 bytes/);
    assert.deepEqual(backend.states('bomb1'), []);
    await w.stop();
  });
});

describe('peak RSS while a 1 GiB bomb is refused (child process, /proc/self/status)', () => {
  for (const [scheme, named, module] of [['xz', 'application/x-lzma (lzma/xz)', 'lzma'], ['bzip2', 'application/x-bz2 (bzip2/bzip)', 'bz2']] as const) {
    test(`${scheme}, 64 concatenated streams of 16 MiB, limit 64 MiB: peak RSS stays under the limit + 200 MiB`, { skip: process.platform !== 'linux' }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'celeriac-bomb-'));
      try {
        writeFileSync(join(dir, 'bomb'), execFileSync(resolve(PYTHON), ['-c', `import ${module},sys; p = ${module}.compress(bytes(16 << 20)); sys.stdout.buffer.write(p * 64)`]));
        writeFileSync(join(dir, 'child.mts'), [
          `import { readFileSync } from 'node:fs';`,
          `import { decompressAsync } from ${JSON.stringify(pathToFileURL(resolve('protocol/compression.ts')).href)};`,
          String.raw`const kb = (k) => Number(new RegExp(k + ':\\s+(\\d+) kB').exec(readFileSync('/proc/self/status', 'utf8'))[1]);`,
          `const body = readFileSync(${JSON.stringify(join(dir, 'bomb'))});`,
          `const before = kb('VmRSS');`,
          `let outcome = 'decoded';`,
          `try { await decompressAsync(body, '${scheme}', { maxSize: 64 << 20 }); } catch (e) { outcome = e.message; }`,
          `process.stdout.write(JSON.stringify({ before, hwm: kb('VmHWM'), outcome }));`,
        ].join('\n'));
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'child.mts')], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const m = JSON.parse(r.stdout) as { before: number; hwm: number; outcome: string };
        assert.ok(m.outcome.includes(`${named}: decompressed body exceeds the limit of 67108864 bytes`), m.outcome);
        const grewMiB = (m.hwm - m.before) / 1024;
        assert.ok(grewMiB < 64 + 200, `peak RSS grew by ${grewMiB.toFixed(0)} MiB while refusing a 1 GiB bomb with a 64 MiB limit`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('celeriac decode refuses a bomb: one line, EX_DATAERR', () => {
  test('17 zstd frames declaring 16 MiB each (272 MiB): exit 65 with the reason, no stack', () => {
    const body = Buffer.concat(Array.from({ length: 17 }, () => decompressFrame16()));
    const input = JSON.stringify({
      body: body.toString('base64'), 'content-encoding': 'utf-8', 'content-type': 'application/json',
      headers: { task: 't.add', id: 'b1', lang: 'py', compression: 'application/zstd' },
      properties: { body_encoding: 'base64', delivery_tag: 'x', delivery_info: { exchange: '', routing_key: 'q' } },
    });
    const r = spawnSync(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'decode'], { input, encoding: 'utf8' });
    assert.equal(r.status, 65, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^celeriac decode: ProtocolError: compression: application\/zstd \(zstd\/zstandard\): decompressed body exceeds the limit of 268435456 bytes/);
  });
});

function decompressFrame16(): Buffer {
  return execFileSync(resolve(PYTHON), ['-c', 'import sys, zstandard; sys.stdout.buffer.write(zstandard.ZstdCompressor(level=3).compress(bytes(16 << 20)))']);
}
