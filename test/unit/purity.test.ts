// protocol/ is the pure codec: no I/O, nothing from src/, no broker clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FORBIDDEN = [
  /^ioredis/, /^amqplib/, /^node:(net|tls|dgram|http|https|http2|fs|fs\/promises|child_process|worker_threads|cluster|dns|readline)$/,
  /^(net|tls|dgram|http|https|fs|child_process|dns)$/, /\/src\//, /^\.\.\/src/, /^\.\.\/\.\.\/src/,
];

/** protocol/zstd.ts reads @bokuweb/zstd-wasm's bundled zstd.wasm once, synchronously (see there), and nothing else. */
const ALLOWED = new Set(['protocol/zstd.ts: node:fs']);

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('protocol/ imports no I/O module and nothing from src/', () => {
  const offenders: string[] = [];
  for (const file of files('protocol')) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (FORBIDDEN.some((re) => re.test(spec)) && !ALLOWED.has(`${file}: ${spec}`)) offenders.push(`${file}: ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});
