// prom-client is loaded only when metrics are asked for: `import('celeriac')`, the worker command and
// the exporter command's module load none of it; loadPromClient() does (a fresh process each time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const url = (p: string) => pathToFileURL(resolve(p)).href;

test('prom-client is not loaded by import(celeriac) or the worker and exporter commands, only by loadPromClient()', () => {
  const code = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/prom-client/'));
await import(${JSON.stringify(url('src/index.ts'))});
await import(${JSON.stringify(url('src/cli/worker.ts'))});
await import(${JSON.stringify(url('src/cli/exporter.ts'))});
const before = loaded();
const { loadPromClient } = await import(${JSON.stringify(url('src/metrics/registry.ts'))});
const prom = await loadPromClient();
console.log(JSON.stringify({ before, after: loaded(), registry: typeof prom.Registry }));
`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { before: false, after: true, registry: 'function' });
});
