/**
 * `npm run bench:bombs`: peak RSS and the longest event-loop block while one process decodes a 1 GiB
 * decompression bomb per scheme, with the default 256 MiB limit.
 *
 * Bombs (1 GiB of zeros) are made once by Python's own compressors and cached in $TMPDIR/celeriac-bombs.
 * Each decode runs in a fresh child (`node --expose-gc`) that reports VmHWM (peak RSS, from
 * /proc/self/status), VmRSS before the decode, the wall time, and the longest event-loop delay that
 * perf_hooks.monitorEventLoopDelay saw. Modes: `sync` (decompress) and `async` (decompressAsync, what the
 * worker awaits); also `decode`, the `celeriac decode` path.
 *
 *   npm run bench:bombs                      # every scheme, sync and async
 *   BOMBS_ROOT=/path/to/old/checkout npm run bench:bombs   # measure another checkout's protocol/ (before)
 *   BOMBS=xz,zstd npm run bench:bombs
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const ROOT = resolve(process.env.BOMBS_ROOT ?? join(here, '../..'));
const PYTHON = resolve(process.env.CELERIAC_PYTHON ?? join(here, '../../.venv-celery/bin/python'));
const DIR = join(tmpdir(), 'celeriac-bombs');

/** [name, compression header, Python that writes the bomb to sys.stdout.buffer] */
const BOMBS: [string, string, string][] = [
  ['zlib', 'application/x-gzip', 'c = zlib.compressobj(9)\nfor _ in range(1024): w(c.compress(Z))\nw(c.flush())'],
  ['brotli', 'application/x-brotli', 'c = brotli.Compressor(quality=5)\nfor _ in range(1024): w(c.process(Z))\nw(c.finish())'],
  ['bzip2', 'application/x-bz2', 'c = bz2.BZ2Compressor(9)\nfor _ in range(1024): w(c.compress(Z))\nw(c.flush())'],
  ['bzip2-multi', 'application/x-bz2', 'p = bz2.compress(Z * 16)\nfor _ in range(64): w(p)'],
  ['xz', 'application/x-lzma', 'c = lzma.LZMACompressor()\nfor _ in range(1024): w(c.compress(Z))\nw(c.flush())'],
  ['xz-multi', 'application/x-lzma', 'p = lzma.compress(Z * 16)\nfor _ in range(64): w(p)'],
  ['zstd', 'application/zstd', 'w(zstandard.ZstdCompressor(level=3).compress(Z * 1024))'],
  ['zstd-nosize', 'application/zstd', 'c = zstandard.ZstdCompressor(level=3, write_content_size=False).compressobj()\nfor _ in range(1024): w(c.compress(Z))\nw(c.flush())'],
];

function bomb(name: string, py: string): string {
  const file = join(DIR, `${name}.bin`);
  if (existsSync(file)) return file;
  mkdirSync(DIR, { recursive: true });
  const code = `import sys, zlib, bz2, lzma, brotli, zstandard\nZ = bytes(1 << 20)\nw = sys.stdout.buffer.write\n${py}\n`;
  writeFileSync(file, execFileSync(PYTHON, ['-c', code], { maxBuffer: 1 << 30 }));
  return file;
}

const CHILD = String.raw`
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
const [root, file, mime, mode] = process.argv.slice(2);
const status = (k) => Number(new RegExp(k + ':\\s+(\\d+) kB').exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const comp = await import(root + '/protocol/compression.ts');
const body = readFileSync(file);
let raw;
if (mode === 'decode') {
  const { decodeToJson } = await import(root + '/src/cli/decode.ts');
  raw = JSON.stringify({ body: body.toString('base64'), 'content-encoding': 'utf-8', 'content-type': 'application/json',
    headers: { task: 't', id: 'x', lang: 'py', compression: mime }, properties: { body_encoding: 'base64', delivery_tag: 'x', delivery_info: { exchange: '', routing_key: 'q' } } });
}
globalThis.gc?.();
const before = status('VmRSS');
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
await new Promise((r) => setTimeout(r, 20));
const t0 = performance.now();
let outcome;
try {
  const out = mode === 'async' ? await comp.decompressAsync(body, mime)
    : mode === 'decode' ? (await import(root + '/src/cli/decode.ts')).decodeToJson(raw, { accept: ['json'] })
    : comp.decompress(body, mime);
  outcome = 'decoded ' + out.length;
} catch (e) {
  outcome = 'refused: ' + String(e.message).slice(0, 110);
}
const ms = performance.now() - t0;
await new Promise((r) => setTimeout(r, 20));
h.disable();
process.stdout.write(JSON.stringify({ ms, before, hwm: status('VmHWM'), maxBlock: h.max / 1e6, outcome }));
`;

const only = process.env.BOMBS?.split(',');
const modes = (process.env.BOMBS_MODES ?? 'sync,async').split(',');
const childFile = join(DIR, 'child.mts');
mkdirSync(DIR, { recursive: true });
writeFileSync(childFile, CHILD);
console.log(`root ${ROOT}`);
console.log('scheme        mode   bomb KB   time ms   RSS before MB   peak RSS MB   longest loop block ms   outcome');
for (const [name, mime, py] of BOMBS) {
  if (only && !only.includes(name)) continue;
  const file = bomb(name, py);
  const size = readFileSync(file).length;
  for (const mode of modes) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', childFile, ROOT, file, mime, mode], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      console.log(`${name.padEnd(13)} ${mode.padEnd(6)} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      continue;
    }
    const m = JSON.parse(r.stdout) as { ms: number; before: number; hwm: number; maxBlock: number; outcome: string };
    console.log(
      `${name.padEnd(13)} ${mode.padEnd(6)} ${(size / 1024).toFixed(0).padStart(7)}   ${m.ms.toFixed(0).padStart(7)}   ${m.before.toFixed(0).padStart(13)}` +
        `   ${m.hwm.toFixed(0).padStart(11)}   ${m.maxBlock.toFixed(1).padStart(21)}   ${m.outcome}`,
    );
  }
}
