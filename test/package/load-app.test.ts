// src/cli/load-app.ts on its own: how `-A` / `--config` modules are found and what each mistake says.
// (test/package/pack.test.ts runs the same loader from the installed package in every kind of project.)
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celery } from '../../src/app.ts';
import { AppLoadError, importUserModule, loadApp, parseModuleSpec } from '../../src/cli/load-app.ts';

// the test runner loads tsx with `--import tsx` (both hooks): the loader must not register them again
(globalThis as unknown as Record<symbol, unknown>)[Symbol.for('celeriac.tsx')] = { esm: true, cjs: true };

const dir = mkdtempSync(join(tmpdir(), 'celeriac-load-app-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function project(name: string, type: 'module' | 'commonjs' | undefined, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'package.json'), JSON.stringify(type ? { name, type } : { name }));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(d, f, '..'), { recursive: true });
    writeFileSync(join(d, f), text);
  }
  return d;
}

const APP = "createApp({ broker_url: 'memory://', env: {} })";

async function loadError(p: Promise<unknown>): Promise<AppLoadError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AppLoadError, `not an AppLoadError: ${String(err)}`);
    assert.equal(err.name, 'AppLoadError');
    assert.ok(!err.message.includes('\n'), `the message is one line: ${err.message}`);
    return err;
  }
  assert.fail('loaded');
}

describe('loadApp', () => {
  test('module:attr splits at the last colon, not at a Windows drive', () => {
    assert.deepEqual(parseModuleSpec('./tasks.ts:myApp'), { module: './tasks.ts', attr: 'myApp' });
    assert.deepEqual(parseModuleSpec('C:\\proj\\tasks.ts'), { module: 'C:\\proj\\tasks.ts', attr: null });
    assert.deepEqual(parseModuleSpec('./tasks.ts'), { module: './tasks.ts', attr: null });
  });

  test('finds default, app or celery, :name, a CommonJS module.exports / exports.app, and -A tasks for ./tasks.ts', async () => {
    const esm = project('esm', 'module', {
      'a.ts': `import { createApp } from 'celeriac';\nexport default ${APP};\n`,
      'b.mjs': `import { createApp } from 'celeriac';\nexport const celery = ${APP};\n`,
      'c.ts': `import { createApp } from 'celeriac';\nexport const mine = ${APP};\n`,
      'tasks.ts': `import { createApp } from 'celeriac';\nexport const app = ${APP};\n`,
    });
    const cjs = project('cjs', 'commonjs', {
      'a.js': `const { createApp } = require('celeriac');\nmodule.exports = ${APP};\n`,
      'b.cts': `import { createApp } from 'celeriac';\nexport const app = ${APP};\n`,
      'c.ts': `import { createApp } from 'celeriac';\nconst app = ${APP};\nexport = app;\n`,
    });
    for (const [spec, cwd] of [['./a.ts', esm], ['./b.mjs', esm], ['./c.ts:mine', esm], ['tasks', esm], ['./a.js', cjs], ['./b.cts', cjs], ['./c', cjs]] as const) {
      const app = await loadApp(spec, cwd);
      assert.ok(app instanceof Celery, `${spec}: the app is an instance of this copy's Celery (one copy of the package)`);
    }
  });

  test('not-found: a missing file says the resolved path, a missing package where it was looked for', async () => {
    const d = project('nf', 'module', {});
    const e1 = await loadError(loadApp('./nope.ts', d));
    assert.equal(e1.kind, 'not-found');
    assert.equal(e1.path, join(d, 'nope.ts'));
    assert.match(e1.message, new RegExp(`no such file ${join(d, 'nope.ts').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const e2 = await loadError(loadApp('./nope', d));
    assert.match(e2.message, /nope\{\.ts,\.mts,\.cts,\.js,\.mjs,\.cjs\}/);
    const e3 = await loadError(loadApp('no-such-package-celeriac', d));
    assert.equal(e3.kind, 'not-found');
    assert.match(e3.message, /no file or installed package no-such-package-celeriac \(looked from /);
  });

  test('import-failed: the first line of what the module threw, the error kept as the cause', async () => {
    const d = project('if', 'module', {
      'throws.mjs': "throw new TypeError('bad setting\\nmore detail');\n",
      'syntax.ts': 'export const x = ;\n',
      'missing-dep.mjs': "import 'no-such-dependency-celeriac';\n",
    });
    const e1 = await loadError(loadApp('./throws.mjs', d));
    assert.equal(e1.kind, 'import-failed');
    assert.match(e1.message, /loading .*throws\.mjs failed: TypeError: bad setting$/);
    assert.ok(e1.cause instanceof TypeError);
    const e2 = await loadError(loadApp('./syntax.ts', d));
    assert.equal(e2.kind, 'import-failed');
    assert.match(e2.message, /syntax\.ts:1:\d+: ERROR: /, 'esbuild\'s location line, not only "Transform failed with 1 error:"');
    const e3 = await loadError(loadApp('./missing-dep.mjs', d));
    assert.equal(e3.kind, 'import-failed', 'a dependency of the module that is missing is not the module missing');
    assert.match(e3.message, /no-such-dependency-celeriac/);
  });

  test('no-app: lists the exports and names the one that is an app', async () => {
    const d = project('na', 'module', {
      'other.ts': `import { createApp } from 'celeriac';\nexport const limit = 3;\nexport const myApp = ${APP};\n`,
      'none.mjs': 'export const limit = 3;\nexport function helper() {}\n',
      'none.cjs': 'module.exports = { limit: 3 };\n',
    });
    const e1 = await loadError(loadApp('./other.ts', d));
    assert.equal(e1.kind, 'no-app');
    assert.deepEqual([...e1.exportNames].sort(), ['limit', 'myApp']);
    assert.equal(e1.suggestion, '-A ./other.ts:myApp');
    assert.match(e1.message, /no Celery app exported as default, app, celery \(it exports .*\); myApp is an app: use -A \.\/other\.ts:myApp$/);
    const e2 = await loadError(loadApp('./none.mjs', d));
    assert.equal(e2.suggestion, null);
    assert.match(e2.message, /it exports helper, limit|it exports limit, helper/);
    assert.match(e2.message, /export const app = createApp/);
    const e3 = await loadError(loadApp('./none.cjs:limit', d));
    assert.match(e3.message, /no Celery app exported as limit .*module\.exports = app/);
  });
});

describe('importUserModule', () => {
  test('a config module: ES named exports, CommonJS module.exports, and :name', async () => {
    const d = project('cfg', 'commonjs', {
      'conf.mts': "export const broker_url = 'redis://h:6379/0';\nexport const prod = { broker_url: 'redis://prod:6379/0' };\n",
      'conf.cjs': "module.exports = { result_backend: 'redis://h:6379/1' };\n",
      'conf.ts': "export const task_default_queue = 'from-ts';\n",
    });
    const a = await importUserModule('./conf.mts', d);
    assert.equal(a.broker_url, 'redis://h:6379/0');
    const b = await importUserModule('./conf.cjs', d);
    assert.deepEqual(b.default, { result_backend: 'redis://h:6379/1' });
    const c = await importUserModule('./conf.ts', d);
    assert.equal((c.default as Record<string, unknown> | undefined)?.task_default_queue ?? c.task_default_queue, 'from-ts');
    assert.deepEqual(await importUserModule('./conf.mts:prod', d), { broker_url: 'redis://prod:6379/0' });
    const e = await loadError(importUserModule('./conf.mts:staging', d));
    assert.equal(e.kind, 'no-export');
    assert.match(e.message, /has no export staging that is an object \(it exports /);
  });
});
