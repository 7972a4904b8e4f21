/**
 * What the operator commands (`purge`, `list`, `migrate`) share: Celery's comma-separated queue lists,
 * `pluralize`, click's `confirm` prompt, and colours only on a terminal (as click strips them otherwise).
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Celery } from '../app.ts';
import type { Broker } from '../broker.ts';
import { createBroker } from '../brokers/index.ts';

/** Celery's `COMMA_SEPARATED_LIST` (`str_to_list`): `"a,b"` -> `['a', 'b']`; empty names are dropped. */
export function commaList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text.split(',').filter((s) => s !== '');
}

/** `celery.utils.text.pluralize`: the plural unless n is 1. */
export function pluralize(n: number, word: string, suffix = 's'): string {
  return n === 1 ? word : word + suffix;
}

/** Whether to colour what goes to `stream` (a terminal, and NO_COLOR not set). */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

/** click's `style(text, fg='red')` on a terminal, the text alone elsewhere. */
export function red(text: string, stream: { isTTY?: boolean } = process.stdout): string {
  return useColor(stream) ? `\x1b[31m${text}\x1b[0m` : text;
}

/** The user said no (click's `Abort`): the command prints `Aborted!` and exits 1. */
export class Aborted extends Error {
  override name = 'Aborted';
  readonly exitCode = 1;
}

/**
 * click's `confirm(text, abort=True)` with the default "no": prints `text [y/N]: ` and reads lines from
 * `input` (a terminal or not, as click does) until one is y/yes/n/no/empty; anything else prints
 * `Error: invalid input` and asks again. No, an empty answer or the end of input throw {@link Aborted}.
 */
export function confirm(text: string, input: Readable = process.stdin, output: Writable = process.stdout): Promise<void> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, terminal: false });
    let settled = false;
    const end = (ok: boolean) => {
      if (settled) return;
      settled = true;
      rl.close();
      if (!ok) input.pause();
      if (ok) resolve();
      else reject(new Aborted('Aborted!'));
    };
    output.write(`${text} [y/N]: `);
    rl.on('line', (line) => {
      const answer = line.trim().toLowerCase();
      if (answer === 'y' || answer === 'yes') return end(true);
      if (answer === '' || answer === 'n' || answer === 'no') return end(false);
      output.write(`Error: invalid input\n${text} [y/N]: `);
    });
    rl.on('close', () => end(false));
  });
}

/**
 * A broker of its own for a command, on `url` (default: the app's `broker_url`) with the app's
 * transport options and settings, whose background problems go to `onError` (not to the console).
 */
export function commandBroker(app: Celery, onError: (err: Error) => void, url: string = app.conf.brokerUrl): Broker {
  return createBroker(url, { ...app.conf.brokerTransportOptions }, { settings: app.conf, queues: () => app.router.queues(), onError });
}
