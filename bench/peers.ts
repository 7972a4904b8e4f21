/**
 * celery-node and BullMQ are measured beside celeriac but are not dependencies of the project (their
 * optional native add-ons keep package-lock.json from being portable). The bench installs them on
 * first use, without saving them.
 */
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';

const PEERS = ['celery-node@0.5.9', 'bullmq@6'];

export function ensureBenchPeers(): void {
  const require = createRequire(import.meta.url);
  const missing = PEERS.filter((spec) => {
    try {
      require.resolve(spec.slice(0, spec.lastIndexOf('@')));
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  console.log(`installing bench peers (not saved): ${missing.join(' ')}`);
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', ...missing], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`could not install ${missing.join(' ')}; run: npm install --no-save ${missing.join(' ')}`);
}
