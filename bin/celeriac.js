#!/usr/bin/env node
// The `celeriac` command.
//
// Installed from the registry (or a tarball), the package holds dist/ and no src/: the compiled CLI
// runs as plain JavaScript and no TypeScript tooling is loaded unless the user's own app module is
// TypeScript (src/cli/load-app.ts imports tsx for that module only).
//
// In a checkout (src/ is there) the CLI runs the TypeScript sources through tsx, even when a dist/
// was built: a stale dist/ would otherwise run old code, and an app module importing src/ (as the
// tests' apps do) would mix two copies of every class.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  // tells src/cli/load-app.ts that tsx's ES module hook is in place (it adds the CommonJS one)
  const mark = Symbol.for('celeriac.tsx');
  globalThis[mark] = { ...globalThis[mark], esm: true };
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
