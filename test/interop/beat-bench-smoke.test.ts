// `npm run bench:beat` in its short mode (--minutes 0.2 --entries 1000): it completes and prints its
// numbers for every contender available here. No timed assertion: the numbers are only printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinaries } from '../helpers/private-redis.ts';

test('bench:beat --minutes 0.2 --entries 1000 completes and prints CPU, RSS and lateness per contender', { timeout: 240_000 }, async (t) => {
  if (!requireBinaries(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-bench-beat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'beat.json');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/beat.ts', '--minutes', '0.2', '--entries', '1000', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let so = '';
    let se = '';
    child.stdout.on('data', (d: Buffer) => (so += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (se += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: so, stderr: se }));
  });
  assert.equal(code, 0, `bench:beat failed:\n${stderr}`);
  for (const l of stdout.split('\n').filter((x) => x.startsWith('celeriac-count:'))) console.log(l);
  const results = (JSON.parse(readFileSync(out, 'utf8')) as { results: { contender: string; cpuPerS: number; rssMiB: number; sends: number }[] }).results;
  const keys = results.map((r) => r.contender);
  assert.ok(keys.includes('celeriac-file') && keys.includes('celeriac-redis'), `contenders: ${keys.join(', ')}`);
  for (const r of results) {
    assert.ok(Number.isFinite(r.cpuPerS) && r.rssMiB > 0, `${r.contender}: no CPU/RSS reading`);
    assert.ok(r.sends > 0, `${r.contender}: sent nothing`);
  }
  assert.match(stdout, /\| contender .*\| CPU % /);
  assert.ok(readFileSync(out.replace(/\.json$/, '.md'), 'utf8').includes('celeriac beat -S file'));
});
