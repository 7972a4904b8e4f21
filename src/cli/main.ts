/**
 * celeriac's command line, shaped as Celery's: global options (`-A`, `-b`, `--result-backend`,
 * `--config`, `--workdir`, `--traceback`, `-q`) before or after the command, one file per command.
 * This one only wires them to commander and maps commander's own errors (an unknown option, a missing
 * argument) to `EX_USAGE` (64), as every other mistake on the command line (src/cli/exit.ts).
 */
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { registerBeat } from './beat.ts';
import { registerCall } from './call.ts';
import { registerGlobalOptions } from './context.ts';
import { registerControl } from './control.ts';
import { registerCrontab } from './crontab.ts';
import { registerDecode } from './decode.ts';
import { registerEvents } from './events.ts';
import { EX_OK, EX_USAGE } from './exit.ts';
import { registerFleetCheck } from './fleet-check.ts';
import { registerExporter } from './exporter.ts';
import { registerInspect } from './inspect.ts';
import { registerList } from './list.ts';
import { registerMigrate } from './migrate.ts';
import { registerMulti } from './multi.ts';
import { registerPurge } from './purge.ts';
import { registerQuarantine } from './quarantine.ts';
import { registerReport } from './report.ts';
import { registerResult } from './result.ts';
import { registerShell } from './shell.ts';
import { registerStatus } from './status.ts';
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

/** Help and version end with 0; every parse error (commander prints it) with EX_USAGE. */
function exitFor(err: CommanderError): never {
  const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
  process.exit(ok ? EX_OK : EX_USAGE);
}

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description("Celery's wire protocol in TypeScript: producer and worker for mixed Celery fleets")
    .version(pkg.version)
    .usage('[global options] <command> [options]')
    .showHelpAfterError('(add --help for the options)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride(exitFor);
  registerGlobalOptions(program);
  // subcommands inherit the help and exit settings above
  registerDecode(program);
  registerCall(program);
  registerResult(program);
  registerCrontab(program);
  registerWorker(program, pkg.version);
  registerMulti(program, pkg.version);
  registerBeat(program, pkg.version);
  registerEvents(program, pkg.version);
  registerExporter(program);
  registerPurge(program);
  registerQuarantine(program);
  registerReport(program, pkg.version);
  registerList(program);
  registerMigrate(program);
  registerShell(program);
  registerInspect(program);
  registerControl(program);
  registerStatus(program);
  registerFleetCheck(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
