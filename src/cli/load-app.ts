/**
 * Loading the user's own modules named on the command line: the app (`-A MODULE`, Celery's `--app`)
 * and config modules (`--config` / `CELERY_CONFIG_MODULE`).
 *
 *   -A ./tasks.ts            a path, relative to the current directory (or absolute)
 *   -A ./tasks               the same, trying .ts, .mts, .cts, .js, .mjs, .cjs, then <dir>/index.*
 *   -A proj/tasks            a package (or a package's subpath) installed where the current directory sees it
 *   -A tasks                 a package, else ./tasks.{ts,...,cjs} (as `celery -A tasks` finds ./tasks.py)
 *   -A ./tasks.ts:myApp      the export `myApp` instead of `default` / `app` / `celery`
 *
 * Any of .ts, .mts, .cts, .js, .mjs, .cjs loads in an ES module project (`"type": "module"`), a CommonJS
 * one (`"type": "commonjs"`) and an untyped one (no `"type"`, what `npm init -y` made before npm 11):
 *
 * - JavaScript loads with Node's own `import()`, no TypeScript tooling involved; CommonJS works both
 *   as `module.exports = app` and `exports.app = app`.
 * - TypeScript loads through tsx (a dependency of celeriac, imported only here, only for a .ts module),
 *   with both of its hooks: the ES module one and the CommonJS one. With the ESM hook alone a .ts
 *   file in a CommonJS or untyped project reaches Node's CommonJS loader untransformed, Node sees ESM
 *   syntax and tries `require(esm)` of a module the ESM loader is already loading: ERR_REQUIRE_CYCLE_MODULE.
 *   tsx reads the tsconfig.json nearest the module (its `paths` apply) unless TSX_TSCONFIG_PATH says another.
 * - The user's `import 'celeriac'` / `require('celeriac')` get this very copy of the package (the one
 *   the CLI runs from), so `instanceof` holds between the app's classes and the worker's: `require`
 *   is answered with the already-loaded ES module namespace (tsx's CommonJS hook would otherwise load
 *   a second, CommonJS-transformed copy of the package), and when `import 'celeriac'` would resolve to
 *   another copy (a global CLI and a local install, or a checkout running src/), an ES module resolve
 *   hook points it here. That hook is registered only then: it costs a loader thread.
 *
 * Failures are {@link AppLoadError}s whose `kind` tells the CLI what went wrong, each with a message
 * that is one line.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import Module, { createRequire, register } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Celery } from '../app.ts';
import { ConfigurationError } from '../errors.ts';

/**
 * What went wrong loading a module:
 * - `not-found`: the file or package does not exist (`path` is where it was looked for);
 * - `import-failed`: the module threw while loading (`cause` is what it threw);
 * - `no-app`: the module loaded but exports no Celery app under the names tried (`exportNames` lists
 *   its exports, `suggestion` the `-A` that names an export that is an app, if one is);
 * - `no-export`: a config module has no export of the `:name` asked for;
 * - `needs-tsx`: a TypeScript module was given and tsx cannot be imported.
 */
export type AppLoadErrorKind = 'not-found' | 'import-failed' | 'no-app' | 'no-export' | 'needs-tsx';

export class AppLoadError extends ConfigurationError {
  override name = 'AppLoadError';
  override readonly code = 'EAPPLOAD';
  readonly kind: AppLoadErrorKind;
  /** The module as given (`-A` / `--config`). */
  readonly spec: string;
  /** The file it resolved to, or where it was looked for (`not-found`); null for a package not found. */
  readonly path: string | null;
  /** `no-app`: the module's export names. */
  readonly exportNames: readonly string[];
  /** `no-app`: an `-A` value that names an exported app, when the module has one under another name. */
  readonly suggestion: string | null;
  constructor(
    kind: AppLoadErrorKind,
    message: string,
    options: { spec: string; path?: string | null; cause?: unknown; exportNames?: readonly string[]; suggestion?: string | null },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.spec = options.spec;
    this.path = options.path ?? null;
    this.exportNames = options.exportNames ?? [];
    this.suggestion = options.suggestion ?? null;
  }
}

const TS_FILE = /\.(?:[cm]?ts|tsx)$/i;
const KNOWN_EXT = /\.(?:[cm]?[jt]s|tsx|jsx|json)$/i;
const TRY_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
const APP_EXPORTS = ['default', 'app', 'celery'];

/** `module:attr` → both parts. A colon at index 1 is a Windows drive (`C:\...`), not an attribute. */
export function parseModuleSpec(spec: string): { module: string; attr: string | null } {
  const colon = spec.lastIndexOf(':');
  if (colon > 1) {
    const attr = spec.slice(colon + 1);
    if (/^[A-Za-z_$][\w$]*$/.test(attr)) return { module: spec.slice(0, colon), attr };
  }
  return { module: spec, attr: null };
}

/** The first line of an error's message; with the next one when it only announces it ("...failed with 1 error:"). */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return text.trim();
  return lines[0]!.endsWith(':') && lines.length > 1 ? `${lines[0]} ${lines[1]}` : lines[0]!;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The file a path-like module names: as given, else with one of the extensions, else <dir>/index.*. */
function resolvePath(spec: string, module: string, cwd: string): string {
  const abs = resolve(cwd, module);
  if (isFile(abs)) return abs;
  const candidates = KNOWN_EXT.test(abs) ? [] : TRY_EXTENSIONS.map((e) => abs + e);
  if (existsSync(abs)) candidates.push(...TRY_EXTENSIONS.map((e) => join(abs, `index${e}`)));
  for (const c of candidates) if (isFile(c)) return c;
  const tried: string[] = [];
  if (!KNOWN_EXT.test(abs)) tried.push(`${abs}{${TRY_EXTENSIONS.join(',')}}`);
  if (existsSync(abs)) tried.push(join(abs, 'index.*'));
  const also = tried.length ? ` (nor ${tried.join(' nor ')})` : '';
  throw new AppLoadError('not-found', `${spec}: no such file ${abs}${also}`, { spec, path: abs });
}

/**
 * The file a package specifier names, resolved from `cwd` as Node would (`require` conditions, which
 * every package with a `default` export condition answers). Null when the package only exports under
 * the `import` condition: then `import()` resolves it.
 */
function resolvePackage(spec: string, module: string, cwd: string): string | null {
  const req = createRequire(join(cwd, '__celeriac_app_loader__.js'));
  try {
    return req.resolve(module);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || code === 'ERR_REQUIRE_ESM') return null;
    throw new AppLoadError('not-found', `${spec}: no file or installed package ${module} (looked from ${cwd})`, { spec, path: null, cause: err });
  }
}

// --- this copy of celeriac, for the user's imports -------------------------------------------------

const HERE = import.meta.url;
const OWN_EXT = HERE.endsWith('.ts') ? '.ts' : '.js';
/** The package's entry points in the copy this module belongs to (dist/ when built, src/ in a checkout). */
const OWN_ENTRIES: Record<string, string> = {
  celeriac: new URL(`../index${OWN_EXT}`, HERE).href,
  'celeriac/protocol': new URL(`../../protocol/index${OWN_EXT}`, HERE).href,
};

const ownNamespaces = new Map<string, unknown>();
let requirePatched = false;
let importHookRegistered = false;

/** Makes `require('celeriac')` and `import 'celeriac'` in the module at `file` reach this copy. */
async function shareThisCopy(file: string): Promise<void> {
  for (const [name, url] of Object.entries(OWN_ENTRIES)) if (!ownNamespaces.has(name)) ownNamespaces.set(name, await import(url));
  if (!requirePatched) {
    requirePatched = true;
    const M = Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
    const load = M._load;
    M._load = function celeriacLoad(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
      const own = ownNamespaces.get(request);
      if (own !== undefined) return own;
      return load.call(this, request, parent, isMain);
    };
  }
  if (importHookRegistered || resolvesHere(file)) return;
  importHookRegistered = true;
  const hook = [
    'let map = {};',
    'export function initialize(data) { map = data; }',
    'export function resolve(specifier, context, next) {',
    '  const url = map[specifier];',
    '  return url ? { url, shortCircuit: true } : next(specifier, context);',
    '}',
  ].join('\n');
  register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: OWN_ENTRIES });
}

/** Whether `import 'celeriac'` from `file` already resolves to this copy (the usual local install). */
function resolvesHere(file: string): boolean {
  try {
    const theirs = realpathSync(createRequire(file).resolve('celeriac'));
    return theirs === realpathSync(fileURLToPath(OWN_ENTRIES.celeriac!));
  } catch {
    return false;
  }
}

// --- TypeScript through tsx -------------------------------------------------------------------------

/** Set by bin/celeriac.js when it registered tsx's ES module hook to run src/ (a checkout). */
const TSX_MARK = Symbol.for('celeriac.tsx');
type TsxMark = { esm?: boolean; cjs?: boolean };

function nearestTsconfig(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const p = join(d, 'tsconfig.json');
    if (isFile(p)) return p;
    if (dirname(d) === d) return null;
  }
}

async function importTsx(which: 'esm' | 'cjs', file: string, spec: string): Promise<{ register: (options?: { tsconfig?: string }) => unknown }> {
  const name = `tsx/${which}/api`;
  try {
    return (await import(name)) as { register: () => unknown };
  } catch (ours) {
    try {
      // tsx installed beside the user's module, when it is missing beside this package
      return (await import(pathToFileURL(createRequire(file).resolve(name)).href)) as { register: () => unknown };
    } catch {
      throw new AppLoadError(
        'needs-tsx',
        `${spec}: ${file} is TypeScript, and loading it needs tsx, which cannot be imported (${firstLine(ours)}): ` +
          'install it with `npm install tsx`, or compile the module and pass the .js file',
        { spec, path: file, cause: ours },
      );
    }
  }
}

/** Registers tsx's ES module and CommonJS hooks (once each per process). */
async function registerTsx(file: string, spec: string): Promise<void> {
  const g = globalThis as unknown as Record<symbol, TsxMark | undefined>;
  const mark = (g[TSX_MARK] ??= {});
  if (mark.esm && mark.cjs) return;
  const tsconfig = process.env.TSX_TSCONFIG_PATH ? null : nearestTsconfig(dirname(file));
  const before = process.env.TSX_TSCONFIG_PATH;
  // tsx's CommonJS hook reads its tsconfig from the environment when it is registered
  if (tsconfig) process.env.TSX_TSCONFIG_PATH = tsconfig;
  try {
    if (!mark.esm) {
      const esm = await importTsx('esm', file, spec);
      esm.register(tsconfig ? { tsconfig } : undefined);
      mark.esm = true;
    }
    if (!mark.cjs) {
      const cjs = await importTsx('cjs', file, spec);
      cjs.register();
      mark.cjs = true;
    }
  } finally {
    if (tsconfig) {
      if (before === undefined) delete process.env.TSX_TSCONFIG_PATH;
      else process.env.TSX_TSCONFIG_PATH = before;
    }
  }
}

// --- loading ------------------------------------------------------------------------------------------

const CJS_FILE = /\.c[jt]s$/i;

/**
 * A .cjs / .cts module through Node's CommonJS loader, as `import()` would show it. Not with
 * `import()`: once a loader hook (tsx's) hands Node the source of a CommonJS module, Node 20 runs it
 * with the ES loader's own `require`, which fails on `require()` of an ES module such as celeriac
 * ("Cannot read properties of undefined (reading 'exports')").
 */
function requireNamespace(file: string): Record<string, unknown> {
  const exports = createRequire(file)(file) as unknown;
  if (typeof exports === 'object' && exports !== null && (exports as { __esModule?: unknown }).__esModule === true) {
    return { ...(exports as Record<string, unknown>) };
  }
  return { default: exports };
}

interface Loaded {
  namespace: Record<string, unknown>;
  module: string;
  attr: string | null;
  file: string | null;
}

async function importModule(spec: string, cwd: string): Promise<Loaded> {
  const { module, attr } = parseModuleSpec(spec.trim());
  if (module === '') throw new AppLoadError('not-found', `${JSON.stringify(spec)}: no module named`, { spec, path: null });
  const looksLikePath = module.startsWith('.') || isAbsolute(module) || KNOWN_EXT.test(module) || existsSync(resolve(cwd, module));
  let file: string | null;
  if (looksLikePath) file = resolvePath(spec, module, cwd);
  else {
    try {
      file = resolvePackage(spec, module, cwd);
    } catch (err) {
      // `-A tasks` for ./tasks.ts, as `celery -A tasks` finds tasks.py in the current directory
      if (!(err instanceof AppLoadError) || !TRY_EXTENSIONS.some((e) => isFile(resolve(cwd, module + e)))) throw err;
      file = resolvePath(spec, module, cwd);
    }
  }
  if (file !== null) {
    await shareThisCopy(file);
    if (TS_FILE.test(file)) await registerTsx(file, spec);
  }
  let namespace: Record<string, unknown>;
  try {
    if (file !== null && CJS_FILE.test(file)) namespace = requireNamespace(file);
    else namespace = (await import(file !== null ? pathToFileURL(file).href : module)) as Record<string, unknown>;
  } catch (err) {
    if (file === null && (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${module}'`)) {
      throw new AppLoadError('not-found', `${spec}: no file or installed package ${module} (looked from ${cwd})`, { spec, path: null, cause: err });
    }
    const name = err instanceof Error ? err.name : 'Error';
    throw new AppLoadError('import-failed', `${spec}: loading ${file ?? module} failed: ${name}: ${firstLine(err)}`, { spec, path: file, cause: err });
  }
  return { namespace, module, attr, file };
}

/** An app of this or any other copy of celeriac (the copies are made to agree, see the notes above). */
function isApp(v: unknown): v is Celery {
  return typeof v === 'object' && v !== null && (v as Celery).tasks instanceof Map && typeof (v as Celery).conf === 'object' && typeof (v as Celery).task === 'function';
}

/** `name` among the exports: a named export, or a property of a CommonJS module's `module.exports`. */
function exported(ns: Record<string, unknown>, name: string): unknown {
  if (name in ns && ns[name] !== undefined) return ns[name];
  const cjs = ns.default;
  if (name !== 'default' && typeof cjs === 'object' && cjs !== null && !isApp(cjs)) return (cjs as Record<string, unknown>)[name];
  return undefined;
}

/** Every export name, with a CommonJS module's `module.exports` properties (tsx's transform hides them from Node). */
function exportNames(ns: Record<string, unknown>): string[] {
  const names = new Set(Object.keys(ns).filter((k) => k !== 'module.exports' && k !== '__esModule'));
  const cjs = ns.default;
  if (typeof cjs === 'object' && cjs !== null && !isApp(cjs)) for (const k of Object.keys(cjs)) if (k !== '__esModule') names.add(k);
  return [...names];
}

/**
 * Imports the module named by `-A` and returns its app: the `:name` export, else `default`, `app` or
 * `celery` (a CommonJS `module.exports = app` is the default export).
 */
export async function loadApp(spec: string, cwd: string = process.cwd()): Promise<Celery> {
  const { namespace, module, attr, file } = await importModule(spec, cwd);
  const names = attr ? [attr] : APP_EXPORTS;
  for (const n of names) {
    const v = exported(namespace, n);
    if (isApp(v)) return v;
  }
  const all = exportNames(namespace);
  const apps = all.filter((n) => isApp(exported(namespace, n)));
  const where = file ?? module;
  const suggestion = apps.length ? `-A ${module}:${apps[0]}` : null;
  const has = all.length ? `it exports ${all.slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''}` : 'it exports nothing';
  const wanted = attr ? `no Celery app exported as ${attr}` : `no Celery app exported as ${names.join(', ')}`;
  const hint = suggestion
    ? `; ${apps.length > 1 ? `${apps.join(', ')} are apps` : `${apps[0]} is an app`}: use ${suggestion}`
    : `; export one: ${CJS_FILE.test(where) ? 'module.exports = app' : 'export const app = createApp({...})'}`;
  throw new AppLoadError('no-app', `${spec}: ${wanted} (${has})${hint}`, { spec, path: file, exportNames: all, suggestion });
}

/**
 * Imports any user module (a config module of Celery settings, say) by the rules {@link loadApp}
 * follows, and returns its namespace: named exports, plus `default` (a CommonJS module's
 * `module.exports`, or an `export default`). With `module:name`, the export `name` (an object).
 */
export async function importUserModule(spec: string, cwd: string = process.cwd()): Promise<Record<string, unknown>> {
  const { namespace, attr, file, module } = await importModule(spec, cwd);
  if (attr === null) return namespace;
  const v = exported(namespace, attr);
  if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  const all = exportNames(namespace);
  throw new AppLoadError('no-export', `${spec}: ${file ?? module} has no export ${attr} that is an object (it exports ${all.join(', ') || 'nothing'})`, {
    spec, path: file, exportNames: all,
  });
}
