/**
 * The scratch projects test/package/pack.test.ts installs the packed package into: one directory per
 * kind of project (ES module, CommonJS, untyped) under one scratch root whose node_modules holds the
 * tarball's install (Node and tsc both look up the tree, so the siblings share one install), each with
 * an app module in every extension, a consumer file to type-check, and scripts that import/require
 * the package.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Kind = 'esm' | 'cjs' | 'untyped';
export const KINDS: readonly Kind[] = ['esm', 'cjs', 'untyped'];

/** App module extensions: every project has each one, and tsc checks them all. */
export const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;
export type Extension = (typeof EXTENSIONS)[number];
/**
 * The app modules started as workers: .ts and .js in every kind (their format follows the project's
 * "type"), and each explicit-format extension in the two kinds where it is the odd one out.
 */
export const WORKER_EXTENSIONS: Record<Kind, readonly Extension[]> = {
  esm: ['.ts', '.js', '.cts', '.cjs'],
  cjs: ['.ts', '.js', '.mts', '.mjs'],
  untyped: ['.ts', '.js', '.mts', '.cts'],
};
/** The app modules `celeriac call -A` runs with. */
export const CALL_EXTENSIONS: readonly Extension[] = ['.ts', '.js'];

export const isTypeScript = (ext: Extension): boolean => ext.endsWith('ts');

export interface ProjectSettings {
  /** Broker and result backend. */
  url: string;
  /** The queue `pack.py_mul` is routed to (a Python worker serves it). */
  pyQueue: string;
  /** The queue of the worker started on each app module. */
  queueFor(ext: Extension): string;
}

const PKG_TYPE: Record<Kind, string | undefined> = { esm: 'module', cjs: 'commonjs', untyped: undefined };

/** Whether a `.js` file is an ES module in this kind of project (untyped: CommonJS, as `npm init -y` users write it). */
const jsIsEsm = (kind: Kind): boolean => kind === 'esm';

function appConfig(s: ProjectSettings, ext: Extension): string {
  return `{ broker_url: ${JSON.stringify(s.url)}, result_backend: ${JSON.stringify(s.url)}, task_default_queue: ${JSON.stringify(s.queueFor(ext))}, ` +
    `task_routes: { 'pack.py_mul': { queue: ${JSON.stringify(s.pyQueue)} } } }`;
}

/**
 * The tasks every app module registers:
 * - `pack.add(a, b)`: a + b (through `@lib/math`, a tsconfig `paths` alias, in the TypeScript modules);
 * - `pack.same`: whether the worker's `self` is an instance of the user's own `BoundTask` import
 *   (the CLI and the app share one copy of the package);
 * - `pack.tsx`: whether tsx's CommonJS hook is registered in the worker process (it is only for a
 *   TypeScript app module).
 */
function taskModule(kind: Kind, ext: Extension, s: ProjectSettings): string {
  const config = appConfig(s, ext);
  const tsxCheck = "(nodeModule as unknown as { Module: { _extensions: Record<string, unknown> } }).Module._extensions['.ts'] !== undefined";
  const tsBody = (exportLine: string) => [
    "import { createApp, BoundTask } from 'celeriac';",
    "import * as nodeModule from 'node:module';",
    "import { add } from '@lib/math.js';",
    '',
    `const app = createApp(${config});`,
    "app.task('pack.add', (a: number, b: number) => add(a, b));",
    "app.task('pack.same', (self: BoundTask) => self instanceof BoundTask, { bind: true });",
    `app.task('pack.tsx', () => ${tsxCheck});`,
    exportLine,
    '',
  ].join('\n');
  // the same JavaScript app, imported the ES module way or required the CommonJS way
  const js = (imports: string[]) => (exportLine: string) => [
    ...imports,
    '',
    `const app = createApp(${config});`,
    "app.task('pack.add', (a, b) => a + b);",
    "app.task('pack.same', (self) => self instanceof BoundTask, { bind: true });",
    "app.task('pack.tsx', () => Module._extensions['.ts'] !== undefined);",
    exportLine,
    '',
  ].join('\n');
  const esmJs = js(["import { createApp, BoundTask } from 'celeriac';", "import { Module } from 'node:module';"]);
  const cjsJs = js(["const { createApp, BoundTask } = require('celeriac');", "const { Module } = require('node:module');"]);
  switch (ext) {
    case '.ts': return tsBody('export { app };');
    case '.mts': return tsBody('export default app;');
    case '.cts': return tsBody('export = app;');
    case '.mjs': return esmJs('export { app as celery };');
    case '.cjs': return cjsJs('exports.app = app;');
    case '.js': return jsIsEsm(kind) ? esmJs('export default app;') : cjsJs('module.exports = app;');
  }
}

/** A TypeScript consumer of the package's types: compiled with `tsc --strict`, never run. */
const CONSUMER_TS = `import { createApp, Celery, AsyncResult, BoundTask, PythonError, Worker, type TaskHandle } from 'celeriac';
import { createTaskMessage, encodeTaskMessage, decodeTaskMessage, PyDateTime, type TaskMessage, type RawMessage } from 'celeriac/protocol';

export const app: Celery = createApp({ broker_url: 'redis://127.0.0.1:6379/13', result_backend: 'redis://127.0.0.1:6379/13' });
export const add: TaskHandle<[number, number], number> = app.task('pack.add', (a: number, b: number) => a + b);
export const named = app.task('pack.named', (self: BoundTask, n: number) => \`\${self.name}:\${n}\`, { bind: true });

export async function roundTrip(): Promise<number> {
  const r: AsyncResult<number> = await add.delay(2, 3);
  const value: number = await r.get({ timeout: 10 });
  // @ts-expect-error: the handle is typed, a string is not a number (this fails if the types were any)
  await add.delay('2', 3);
  return value;
}

export function encode(): RawMessage {
  const msg: TaskMessage = createTaskMessage({ task: 'pack.add', args: [2, 3], eta: new PyDateTime('2026-01-02T03:04:05.123456+00:00') });
  const raw = encodeTaskMessage(msg, { serializer: 'json' });
  decodeTaskMessage(raw);
  return raw;
}

export const worker = (): Worker => new Worker(app, { queues: ['pack'], concurrency: 1 });
export const isPythonError = (e: unknown): e is PythonError => e instanceof PythonError;
`;

const CHECK_ESM = `import * as celeriac from 'celeriac';
import * as protocol from 'celeriac/protocol';
const app = new celeriac.Celery({ broker_url: 'redis://127.0.0.1:6379/0', env: {} });
console.log(JSON.stringify({ app: app instanceof celeriac.Celery, task: protocol.createTaskMessage({ task: 'pack.check', args: [1] }).headers.task, same: celeriac.createTaskMessage === protocol.createTaskMessage }));
`;
const CHECK_CJS = `const celeriac = require('celeriac');
const protocol = require('celeriac/protocol');
const app = new celeriac.Celery({ broker_url: 'redis://127.0.0.1:6379/0', env: {} });
console.log(JSON.stringify({ app: app instanceof celeriac.Celery, task: protocol.createTaskMessage({ task: 'pack.check', args: [1] }).headers.task, same: celeriac.createTaskMessage === protocol.createTaskMessage }));
`;
/** What every check script prints. */
export const CHECK_OUTPUT = { app: true, task: 'pack.check', same: true };
export const CHECK_SCRIPTS = ['check.mjs', 'check.cjs', 'check.js'] as const;

/**
 * The type-check configurations, at the scratch root over all three projects (tsc takes each file's
 * format from its nearest package.json, so one run covers the three kinds): NodeNext over every file;
 * ESNext + Bundler over the ES module project's consumer and .ts app; CommonJS (node10 resolution in
 * TypeScript 5, through the package's typesVersions) over the CommonJS and untyped ones. A CommonJS
 * file importing the package needs NodeNext from TypeScript 5.8 on (which knows require(esm)) or
 * node20; `--module node16` refuses it (TS1479) in every TypeScript.
 */
export const CHECK_CONFIGS = [
  { file: 'tsconfig.nodenext.json', label: 'NodeNext, all kinds' },
  { file: 'tsconfig.bundler.json', label: 'ESNext + Bundler, ESM project' },
  { file: 'tsconfig.commonjs.json', label: 'CommonJS, CommonJS and untyped projects' },
] as const;

/**
 * The oldest setting the README promises for ES module projects, checked with TypeScript 5.0: `target`
 * ES2015, under NodeNext and under ESNext + Bundler.
 */
export const FLOOR_TYPESCRIPT = '5.0';
export const FLOOR_CONFIGS = [
  { file: 'tsconfig.floor-nodenext.json', label: 'NodeNext, target ES2015, ESM project' },
  { file: 'tsconfig.floor-bundler.json', label: 'ESNext + Bundler, target ES2015, ESM project' },
] as const;

export function writeCheckConfigs(root: string): void {
  const compilerOptions = { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', paths: { '@lib/*': ['./esm/lib/*'] } };
  const all = KINDS.flatMap((k) => ['*.ts', '*.mts', '*.cts', 'lib/*.ts'].map((g) => `${k}/${g}`));
  const write = (name: string, doc: unknown) => writeFileSync(join(root, name), JSON.stringify(doc, null, 2) + '\n');
  write('tsconfig.nodenext.json', { compilerOptions, include: all });
  // the format-neutral files only: a .cts `export =` is CommonJS-only, a .mts ESM-only
  write('tsconfig.bundler.json', {
    extends: './tsconfig.nodenext.json', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' }, include: [],
    files: ['esm/consumer.ts', 'esm/tasks.ts', 'esm/lib/math.ts'],
  });
  write('tsconfig.commonjs.json', {
    extends: './tsconfig.nodenext.json', compilerOptions: { module: 'commonjs' }, include: [],
    files: ['cjs/consumer.ts', 'cjs/tasks.ts', 'untyped/consumer.ts', 'untyped/tasks.ts', 'esm/lib/math.ts'],
  });
  write('tsconfig.floor-nodenext.json', {
    extends: './tsconfig.nodenext.json', compilerOptions: { target: 'es2015' }, include: [],
    files: ['esm/consumer.ts', 'esm/tasks.ts', 'esm/tasks.mts', 'esm/lib/math.ts'],
  });
  write('tsconfig.floor-bundler.json', { extends: './tsconfig.bundler.json', compilerOptions: { target: 'es2015' } });
}

/** Writes a project of `kind` in `dir`. */
export function writeProject(dir: string, kind: Kind, s: ProjectSettings): void {
  mkdirSync(join(dir, 'lib'), { recursive: true });
  const pkg: Record<string, unknown> = { name: `pack-${kind}`, version: '1.0.0', private: true };
  if (PKG_TYPE[kind]) pkg.type = PKG_TYPE[kind];
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  // the project's own tsconfig: tsx reads its `paths` when it loads a .ts app module
  const compilerOptions = { strict: true, target: 'es2022', module: 'nodenext', paths: { '@lib/*': ['./lib/*'] } };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts', '*.mts', '*.cts', 'lib/*.ts'] }, null, 2) + '\n');
  writeFileSync(join(dir, 'lib', 'math.ts'), 'export const add = (a: number, b: number): number => a + b;\n');
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);
  for (const ext of EXTENSIONS) writeFileSync(join(dir, `tasks${ext}`), taskModule(kind, ext, s));
  writeFileSync(join(dir, 'check.mjs'), CHECK_ESM);
  writeFileSync(join(dir, 'check.cjs'), CHECK_CJS);
  writeFileSync(join(dir, 'check.js'), jsIsEsm(kind) ? CHECK_ESM : CHECK_CJS);
}
