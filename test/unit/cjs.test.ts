// CommonJS consumers: `require('celeriac')` and `require('celeriac/protocol')` load the built package
// (Node >= 20.19 / 22.12 can require() an ES module graph as long as nothing in it uses top-level await;
// zstd's wasm is therefore initialised synchronously on first use, not with a top-level `await`).
//
// The package is built from the current sources into a temp dir (so a stale dist/ cannot hide a
// regression), laid out as node_modules/celeriac with the real package.json (so the `exports` map is
// what is tested), and a plain .cjs script requires it. Its zstd output is decompressed by Python's
// zstandard (what kombu uses), and it decompresses what Python compressed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PYTHON, requirePython } from '../helpers/peers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir = '';
let buildError = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-cjs-'));
  const pkg = join(dir, 'consumer', 'node_modules', 'celeriac');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: ROOT, encoding: 'utf8' });
  // type errors elsewhere still emit; only a build that produced nothing is a failure here
  if (!existsSync(join(pkg, 'dist', 'src', 'index.js'))) buildError = `tsc failed (${r.status}): ${r.error?.message ?? ''}\n${r.stdout}\n${r.stderr}`;
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runCjs(source: string, input = ''): { status: number | null; stdout: string; stderr: string } {
  const file = join(dir, 'consumer', `script-${Math.random().toString(36).slice(2)}.cjs`);
  writeFileSync(file, source);
  const r = spawnSync(process.execPath, [file], { cwd: join(dir, 'consumer'), encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('require("celeriac") and require("celeriac/protocol") work from a CommonJS script', () => {
  assert.equal(buildError, '');
  const r = runCjs(`
    const celeriac = require('celeriac');
    const protocol = require('celeriac/protocol');
    const app = new celeriac.Celery({ broker_url: 'redis://127.0.0.1:6379/0', env: {} });
    const sig = app.signature('tasks.add', [1, 2]);
    console.log(JSON.stringify({
      celery: typeof celeriac.Celery, worker: typeof celeriac.Worker, task: sig.task,
      compress: typeof protocol.compress, createTaskMessage: typeof protocol.createTaskMessage,
    }));
  `);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out, { celery: 'function', worker: 'function', task: 'tasks.add', compress: 'function', createTaskMessage: 'function' });
});

test('zstd from CommonJS round-trips with Python zstandard both ways', (t) => {
  assert.equal(buildError, '');
  if (!requirePython(t)) return;
  const data = '{"hello": "celeriac", "n": [1, 2, 3]}'.repeat(50);
  // CommonJS compresses (and checks every other scheme too)
  const r = runCjs(`
    const { compress, decompress } = require('celeriac/protocol');
    const data = Buffer.from(${JSON.stringify(data)});
    for (const s of ['zlib', 'bzip2', 'brotli', 'xz']) {
      const c = compress(data, s);
      if (Buffer.compare(Buffer.from(decompress(c.body, c.compression)), data) !== 0) throw new Error(s + ' did not round-trip');
    }
    const c = compress(data, 'zstd');
    console.log(JSON.stringify({ compression: c.compression, body: Buffer.from(c.body).toString('base64') }));
  `);
  assert.equal(r.status, 0, r.stderr);
  const fromTs = JSON.parse(r.stdout) as { compression: string; body: string };
  assert.equal(fromTs.compression, 'application/zstd');
  const py = spawnSync(resolve(ROOT, PYTHON), ['-c', [
    'import base64, json, sys',
    'from kombu import compression',
    'doc = json.load(sys.stdin)',
    "plain = compression.decompress(base64.b64decode(doc['body']), doc['compression']).decode()",
    "body, ctype = compression.compress(plain.encode(), 'zstd')",
    "print(json.dumps({'plain': plain, 'body': base64.b64encode(body).decode(), 'compression': ctype}))",
  ].join('\n')], { encoding: 'utf8', input: JSON.stringify(fromTs) });
  assert.equal(py.status, 0, py.stderr);
  const fromPy = JSON.parse(py.stdout) as { plain: string; body: string; compression: string };
  assert.equal(fromPy.plain, data, 'Python reads what CommonJS compressed');
  // CommonJS decompresses what Python compressed
  const back = runCjs(`
    const { decompress } = require('celeriac/protocol');
    const doc = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    process.stdout.write(Buffer.from(decompress(Buffer.from(doc.body, 'base64'), doc.compression)).toString());
  `, JSON.stringify(fromPy));
  assert.equal(back.status, 0, back.stderr);
  assert.equal(back.stdout, data);
});
