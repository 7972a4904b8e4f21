/**
 * Packing the repository as a fresh clone would, and installing the tarball the way a user does:
 * shared by test/package/pack.test.ts and bench/idle-rss.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The environment a user's shell would have: no npm script variables, no node options, no Celery settings. */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_OPTIONS' || k.startsWith('TSX_') || k.startsWith('CELERY_') || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return env;
}

export interface Ran { status: number | null; stdout: string; stderr: string; ms: number }

/** Runs a command to its end (killed after `timeoutMs`); `track` sees the child (to kill it on teardown). */
export function run(cmd: string, args: string[], cwd: string, options: { timeoutMs?: number; track?: Set<ChildProcess> } = {}): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    options.track?.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      options.track?.delete(child);
      resolveRun({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export const show = (r: Ran): string => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * Copies the files a clone of `root` has (tracked, and new files git does not ignore; no dist/, no
 * node_modules/) to `tree`, and links `root`'s node_modules there (the build needs the dev dependencies).
 */
export function copyFreshTree(root: string, tree: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const rel of listed.stdout.split('\0').filter(Boolean)) {
    const from = join(root, rel);
    // a deleted file is still listed; a symlink to a directory (a linked venv) is not a file of the package
    if (rel.startsWith('dist/') || !statSync(from, { throwIfNoEntry: false })?.isFile()) continue;
    mkdirSync(dirname(join(tree, rel)), { recursive: true });
    copyFileSync(from, join(tree, rel));
  }
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir');
}

/** `npm pack` of a fresh copy of `root` (prepack builds dist/) into `dest`; returns the tarball's path. */
export async function packFreshTree(root: string, dest: string, track?: Set<ChildProcess>): Promise<{ tarball: string; tree: string; ran: Ran }> {
  const tree = join(dest, 'tree');
  copyFreshTree(root, tree);
  if (existsSync(join(tree, 'dist'))) throw new Error('the fresh tree has a dist/ already');
  const ran = await run('npm', ['pack', '--pack-destination', dest], tree, { timeoutMs: 300_000, ...(track ? { track } : {}) });
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { tarball: join(dest, `celeriac-${version}.tgz`), tree, ran };
}

/** `npm install <specs>` in `dir` as a user would, from the cache when it can. */
export function npmInstall(dir: string, specs: string[], track?: Set<ChildProcess>): Promise<Ran> {
  return run('npm', ['install', ...specs, '--prefer-offline', '--no-audit', '--no-fund'], dir, { timeoutMs: 300_000, ...(track ? { track } : {}) });
}
