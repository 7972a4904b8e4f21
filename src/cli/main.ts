/**
 * celeriac's command line. One file per command; this one only wires them to commander.
 */
import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { registerCall } from './call.ts';
import { registerDecode } from './decode.ts';
import { registerResult } from './result.ts';
import { registerWorker } from './worker.ts';

/** package.json, found from src/cli (a checkout) or dist/src/cli (a build). */
function packageJson(): { version: string } {
  for (const rel of ['../../package.json', '../../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return JSON.parse(readFileSync(url, 'utf8')) as { version: string };
  }
  return { version: '0.0.0' };
}
const pkg = packageJson();

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description("Celery's wire protocol in TypeScript: producer, worker and beat for mixed Celery fleets")
    .version(pkg.version)
    .showHelpAfterError();
  registerDecode(program);
  registerCall(program);
  registerResult(program);
  registerWorker(program, pkg.version);
  return program;
}

await buildProgram().parseAsync(process.argv);
