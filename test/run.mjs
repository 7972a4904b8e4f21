#!/usr/bin/env node
// `npm test`: sets up what the tests need, then runs every test/**/*.test.ts with node's test runner
// (Node 20 has no glob in --test).
//
//   node test/run.mjs                    set-up, then every test
//   node test/run.mjs redis canvas       set-up, then the files whose path contains "redis" or "canvas"
//   node test/run.mjs --no-setup unit/   the files only (also CELERIAC_NO_SETUP=1)
//
// The set-up (examples/ensure-peers.ts, shared with `npm run demo`) does only what is missing, one
// line per step: the Python venv (.ci/setup-python.sh), Redis and RabbitMQ (.ci/brokers.sh), dist/
// (npm run build when a source is newer). With everything in place it takes about a second.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const setUp = !args.includes('--no-setup') && process.env.CELERIAC_NO_SETUP !== '1';
const filter = args.filter((a) => a !== '--no-setup');
const files = walk('test').filter((f) => filter.length === 0 || filter.some((x) => f.includes(x))).sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
if (setUp) {
  const { tsImport } = await import('tsx/esm/api');
  const { setUpForTests, SetupError } = await tsImport('../examples/ensure-peers.ts', import.meta.url);
  try {
    await setUpForTests((line) => console.error(`setup: ${line}`));
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    console.error(`setup: ${err.message}`);
    console.error('setup: (node test/run.mjs --no-setup runs the tests without it)');
    process.exit(1);
  }
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
