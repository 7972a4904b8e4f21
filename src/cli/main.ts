/**
 * celeriac's command line. One file per command; this one only wires them to commander.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerDecode } from './decode.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description("Celery's wire protocol in TypeScript: producer, worker and beat for mixed Celery fleets")
    .version(pkg.version)
    .showHelpAfterError();
  registerDecode(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
