// The package as users get it (issue 11). `npm pack` on a fresh tree of the repository (its files as a
// clone has them, no dist/: prepack must build it), then the tarball installed into scratch projects
// OUTSIDE the repository, one of each kind (ES module, CommonJS, untyped), which share one install
// (`npm install <tarball> typescript@<the repo's> typescript5@npm:typescript@5 typescript-floor@npm:typescript@5.0
// @types/node@20` in the scratch root; none of the repository's dev dependencies are there). In each project:
// - `import` and `require` of `celeriac` and `celeriac/protocol` from .mjs, .cjs and the kind's own .js;
// - `tsc --strict` (no skipLibCheck) over a consumer file and the TypeScript app modules, with the
//   repository's TypeScript and with TypeScript 5, under NodeNext and one other module setting, and the
//   ES module project with TypeScript 5.0 at target ES2015 (the oldest the README promises);
// - `node_modules/.bin/celeriac worker -A ./tasks<ext>` for each of .ts .mts .cts .js .mjs .cjs on its
//   own queue (Redis db 13), a real Python Celery producer sends it tasks and reads the results with
//   AsyncResult.get(): the result, whether the worker and the app share one copy of the package
//   (instanceof), and whether tsx was loaded (only for a TypeScript app module);
// - `celeriac call -A ./tasks<ext> pack.py_mul --args '[6, 7]' --wait` (the app routes it to a queue a
//   real Python worker serves) prints 42.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { npmInstall, packFreshTree, run as runIn, show, userEnv, type Ran } from './pack-tree.ts';
import { requirePython, runPython, startPythonWorker, uniqueName, redisUrl, type PythonWorker } from '../helpers/peers.ts';
import {
  CALL_EXTENSIONS, CHECK_CONFIGS, CHECK_OUTPUT, CHECK_SCRIPTS, FLOOR_CONFIGS, FLOOR_TYPESCRIPT, KINDS, WORKER_EXTENSIONS, isTypeScript,
  writeCheckConfigs, writeProject,
  type Extension, type Kind,
} from './scratch.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const REDIS_DB = 13;
const URL = redisUrl(REDIS_DB);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; devDependencies: Record<string, string>; peerDependencies?: Record<string, string>;
};
const REPO_TS = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'typescript', 'package.json'), 'utf8')) as { version: string }).version;

const work = mkdtempSync(join(tmpdir(), 'celeriac-pack-'));
const children = new Set<ChildProcess>();
let pyWorker: PythonWorker | undefined;
const timings: Record<string, number> = {};

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await pyWorker?.stop();
  // CELERIAC_PACK_KEEP=1 keeps the tarball and the scratch projects, to look at by hand
  if (process.env.CELERIAC_PACK_KEEP === '1') console.log(`pack test: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  console.log(`pack test timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')}`);
});

const run = (cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Ran> => runIn(cmd, args, cwd, { timeoutMs, track: children });

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = (timings[label] ?? 0) + Date.now() - t0;
  }
}

// --- packing -------------------------------------------------------------------------------------------

let tarball = '';

test('npm pack on a fresh tree builds dist/ and ships what the runtime needs, nothing else', { timeout: 180_000 }, async () => {
  const packed = await timed('pack', () => packFreshTree(ROOT, work, children));
  assert.equal(packed.ran.status, 0, show(packed.ran));
  tarball = packed.tarball;
  const tree = packed.tree;
  assert.ok(existsSync(tarball), `no ${tarball}:\n${show(packed.ran)}`);

  const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const files = list.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  for (const needed of [
    'package.json', 'README.md', 'LICENSE', 'bin/celeriac.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/protocol/index.js',
    'dist/protocol/index.d.ts', 'dist/src/cli/main.js', 'dist/src/cli/load-app.js', 'dist/src/worker/worker.js',
  ]) assert.ok(files.includes(needed), `${needed} is not in the tarball`);
  // the LICENSE is the license package.json names
  const { license } = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')) as { license?: string };
  const LICENSE_TEXTS: Record<string, RegExp> = {
    'BSD-3-Clause': /^BSD 3-Clause License\n[\s\S]*\n3\. Neither the name of the copyright holder nor the names of its\s+contributors may be used/,
    MIT: /^MIT License\n/,
    'Apache-2.0': /^\s*Apache License\s+Version 2\.0/,
  };
  assert.ok(license && LICENSE_TEXTS[license], `package.json's license ${JSON.stringify(license)}: add its LICENSE text check here`);
  assert.match(readFileSync(join(tree, 'LICENSE'), 'utf8'), LICENSE_TEXTS[license]!, `LICENSE is not the ${license} text package.json names`);
  const unwanted = files.filter((f) => !/^(dist\/(src|protocol)\/|bin\/celeriac\.js$|package\.json$|README\.md$|LICENSE$)/.test(f) || f.endsWith('.map') || f.startsWith('dist/src/cli/') && f.endsWith('.d.ts'));
  assert.deepEqual(unwanted, [], 'files the runtime does not need');
  // every relative import of the shipped JavaScript and declarations is in the tarball
  const missing: string[] = [];
  for (const f of files.filter((x) => /\.(js|d\.ts)$/.test(x) && x.startsWith('dist/'))) {
    const text = readFileSync(join(tree, f), 'utf8');
    // import/export statements at the start of a line, and the declarations' import("./x") types (not comments)
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*['"](\.[^'"]+)['"]|^import\s*['"](\.[^'"]+)['"]|\bimport\("(\.[^"]+)"\)/gm)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      let target = join(dirname(f), spec);
      if (f.endsWith('.d.ts')) target = target.replace(/\.ts$/, '.d.ts').replace(/\.js$/, '.d.ts');
      if (!files.includes(target)) missing.push(`${f} → ${spec}`);
    }
  }
  assert.deepEqual(missing, [], 'imports that point outside the tarball');
});

// --- the scratch projects -----------------------------------------------------------------------------

const scratch = join(work, 'consumers');
const pyQueue = uniqueName('pack.py');
const queues = new Map<string, string>();
const queueFor = (kind: Kind, ext: Extension): string => {
  const key = `${kind}${ext}`;
  if (!queues.has(key)) queues.set(key, uniqueName(`pack.${kind}.${ext.slice(1)}`));
  return queues.get(key)!;
};
const bin = () => join(scratch, 'node_modules', '.bin', 'celeriac');

test('installed into scratch projects outside the repository (ESM, CommonJS, untyped)', { timeout: 600_000, concurrency: true }, async (t) => {
  assert.ok(tarball, 'the pack test did not produce a tarball');
  mkdirSync(scratch);
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'celeriac-pack-scratch', version: '0.0.0', private: true }) + '\n');
  const installed = await timed('install', () => npmInstall(scratch, [tarball, `typescript@${REPO_TS}`, 'typescript5@npm:typescript@5', `typescript-floor@npm:typescript@${FLOOR_TYPESCRIPT}`, '@types/node@20'], children));
  assert.equal(installed.status, 0, show(installed));
  const nm = join(scratch, 'node_modules');
  assert.ok(existsSync(join(nm, 'celeriac', 'dist', 'src', 'index.js')), 'the installed package has no dist/src/index.js');
  assert.equal(existsSync(join(nm, 'celeriac', 'src')), false, 'the installed package has no sources');
  // a peer the package declares is the user's to have (npm installs it too when a runtime dependency
  // needs it: prom-client requires @opentelemetry/api), so only the other dev dependencies must be absent
  const peers = new Set(Object.keys(PKG.peerDependencies ?? {}));
  const devOnly = Object.keys(PKG.devDependencies).filter((d) => d !== 'typescript' && d !== '@types/node' && !peers.has(d));
  assert.deepEqual(devOnly.filter((d) => existsSync(join(nm, d))), [], 'dev dependencies of the repository in the scratch install');
  for (const kind of KINDS) writeProject(join(scratch, kind), kind, { url: URL, pyQueue, queueFor: (ext) => queueFor(kind, ext) });
  writeCheckConfigs(scratch);

  await Promise.all(KINDS.map((kind) => t.test(`${kind}: import and require celeriac and celeriac/protocol (${CHECK_SCRIPTS.join(', ')})`, async () => {
    await Promise.all(CHECK_SCRIPTS.map(async (script) => {
      const r = await run(process.execPath, [script], join(scratch, kind));
      assert.equal(r.status, 0, `${kind}/${script}: ${show(r)}`);
      assert.deepEqual(JSON.parse(r.stdout), CHECK_OUTPUT, `${kind}/${script}`);
    }));
  })));

  await t.test(`tsc --strict (no skipLibCheck) with TypeScript ${REPO_TS} and TypeScript 5: ${CHECK_CONFIGS.map((c) => c.label).join('; ')}; ` +
    `TypeScript ${FLOOR_TYPESCRIPT} (the README's floor): ${FLOOR_CONFIGS.map((c) => c.label).join('; ')}`, async () => {
    const compilers: Record<string, [string, readonly { file: string; label: string }[]]> = {
      [`typescript ${REPO_TS}`]: [join(nm, 'typescript', 'bin', 'tsc'), CHECK_CONFIGS],
      'typescript 5': [join(nm, 'typescript5', 'bin', 'tsc'), CHECK_CONFIGS],
      [`typescript ${FLOOR_TYPESCRIPT}`]: [join(nm, 'typescript-floor', 'bin', 'tsc'), FLOOR_CONFIGS],
    };
    // the compilers side by side, each configuration in turn
    await Promise.all(Object.entries(compilers).map(([name, [tsc, configs]]) => timed(`tsc ${name}`, async () => {
      for (const { file, label } of configs) {
        const r = await run(process.execPath, [tsc, '-p', file, '--strict', '--noEmit'], scratch, 300_000);
        assert.equal(r.status, 0, `${name}, ${label} (${file}): ${show(r)}`);
      }
    })));
  });

  await t.test('a Python Celery worker for `celeriac call`', async (tt) => {
    if (!requirePython(tt)) return;
    pyWorker = await timed('python worker', () => startPythonWorker(
      ['-A', 'pack_peer', 'worker', '-Q', pyQueue, '-c', '1', '-P', 'solo', '-n', `${pyQueue}@%h`, '-l', 'info', '--without-gossip', '--without-mingle'],
      { cwd: join(ROOT, 'test', 'python'), env: { PACK_REDIS_URL: URL } },
    ));
  });

  // the three kinds side by side: most of a worker's start is waiting (mingle, the Python producer)
  await Promise.all(KINDS.map((kind) => t.test(`${kind}: celeriac worker -A ./tasks{${WORKER_EXTENSIONS[kind].join(',')}} serves a Python producer`, async (tt) => {
    if (!requirePython(tt)) return;
    await timed(`workers ${kind}`, () => workersServePython(tt, kind));
  })));
  await t.test(`celeriac call -A ./tasks{${CALL_EXTENSIONS.join(',')}} --wait gets a Python worker's result, in each kind`, async (tt) => {
    if (!requirePython(tt)) return;
    assert.ok(pyWorker, 'no Python worker');
    await timed('calls', () => Promise.all(KINDS.flatMap((kind) => CALL_EXTENSIONS.map(async (ext) => {
      const r = await run(bin(), ['call', '-A', `./tasks${ext}`, 'pack.py_mul', '--args', '[6, 7]', '--wait', '--timeout', '60'], join(scratch, kind));
      assert.equal(r.status, 0, `${kind}/tasks${ext}: ${show(r)}\n--- python worker\n${pyWorker!.log().slice(-3000)}`);
      assert.equal(r.stdout.trim(), '42', `${kind}/tasks${ext}: ${show(r)}`);
    }))));
  });
});

interface StartedWorker { ext: Extension; child: ChildProcess; out(): string; exited: Promise<number | null> }

function startWorker(kind: Kind, ext: Extension): StartedWorker {
  const queue = queueFor(kind, ext);
  const child = spawn(bin(), ['worker', '-A', `./tasks${ext}`, '-Q', queue, '-c', '2', '-n', `${queue}@%h`, '-l', 'info'], {
    cwd: join(scratch, kind), env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => {
    children.delete(child);
    r(code);
  }));
  return { ext, child, out: () => out, exited };
}

async function waitReady(w: StartedWorker, kind: Kind, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!/ready\./.test(w.out())) {
    if (Date.now() > end || w.child.exitCode !== null) throw new Error(`${kind}: celeriac worker -A ./tasks${w.ext} did not get ready:\n${w.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(w: StartedWorker): Promise<number | null> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return w.child.exitCode;
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 15_000);
  const code = await w.exited;
  clearTimeout(timer);
  return code;
}

async function workersServePython(t: TestContext, kind: Kind): Promise<void> {
  const workers = WORKER_EXTENSIONS[kind].map((ext) => startWorker(kind, ext));
  try {
    await Promise.all(workers.map((w) => waitReady(w, kind)));
    const jobs = workers.flatMap((w) => {
      const queue = queueFor(kind, w.ext);
      return [
        { task: 'pack.add', args: [2, 3], queue },
        { task: 'pack.same', args: [], queue },
        { task: 'pack.tsx', args: [], queue },
      ];
    });
    const out = JSON.parse(await runPython('test/python/pack_peer.py', { url: URL, timeout: 60, jobs })) as { ok: boolean; result?: unknown; error?: string }[];
    workers.forEach((w, i) => {
      const [add, same, tsx] = out.slice(i * 3, i * 3 + 3);
      const where = `${kind}/tasks${w.ext}`;
      const log = `\n--- worker\n${w.out().slice(-4000)}`;
      assert.deepEqual(add, { ok: true, result: 5 }, `${where}: pack.add${log}`);
      assert.deepEqual(same, { ok: true, result: true }, `${where}: the worker's BoundTask is not the app's (two copies of celeriac)${log}`);
      assert.deepEqual(tsx, { ok: true, result: isTypeScript(w.ext) }, `${where}: tsx ${isTypeScript(w.ext) ? 'not ' : ''}loaded${log}`);
    });
  } finally {
    const codes = await Promise.all(workers.map(stop));
    t.diagnostic(`${kind}: worker exit codes ${codes.join(', ')}`);
  }
  for (const w of workers) assert.equal(w.child.exitCode, 0, `${kind}/tasks${w.ext}: warm shutdown should exit 0:\n${w.out().slice(-3000)}`);
}
