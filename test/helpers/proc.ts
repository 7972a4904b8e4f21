/** Process checks the service tests share: the pid a pidfile names, and whether a pid is alive. */
import { existsSync, readFileSync } from 'node:fs';

/** The pid in a pidfile, or null when there is none (or it is empty). */
export const readPid = (path: string): number | null => (existsSync(path) ? Number(readFileSync(path, 'utf8').trim()) || null : null);

/** Whether a process with this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
