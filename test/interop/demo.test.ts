// The README's main job: the mixed-fleet demo runs end to end against a real Python Celery worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { requirePython } from '../helpers/peers.ts';

test('mixed-fleet demo: TypeScript and a real Python Celery worker exchange tasks and results both ways', (t) => {
  if (!requirePython(t)) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/mixed-fleet.ts'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /demo\.add\(2, 3\)\s+= 5/);
  assert.match(r.stdout, /\["datetime", "datetime\.datetime\(2026, 11, 21, 10, 0, 0, 123456, tzinfo=datetime\.timezone\.utc\)"\]/);
  assert.match(r.stdout, /\["Decimal", "Decimal\('3\.14159265358979323846'\)"\]/);
  assert.match(r.stdout, /\["int", "1180591620717411303424"\]/);
  assert.match(r.stdout, /msgpack \+ zstd\s+= 42/);
  assert.match(r.stdout, /raised\s+= tasks\.DemoError\('boom', 42\)/);
  assert.match(r.stdout, /"state": "SUCCESS", "result": \{"product": 42, "by": "typescript"\}/);
});
