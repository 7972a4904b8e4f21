/**
 * AMQP broker URLs read the way kombu reads them (`kombu/utils/url.py:url_to_parts` +
 * `Connection._init_params`), turned into amqplib's connect object so amqplib never re-parses the vhost:
 *
 * | URL                                   | vhost   |
 * |---------------------------------------|---------|
 * | `amqp://guest:guest@host:5672//`      | `/`     |
 * | `amqp://host/` or `amqp://host`       | `/` (kombu's default when the path is empty) |
 * | `amqp://host/prod`, `amqp://h/%2Fprod`| `prod`, `/prod` (percent-decoded) |
 *
 * `pyamqp://` and `librabbitmq://` are `amqp://`; `amqps://` uses TLS (default port 5671). A `;`-separated
 * failover list uses its first URL. `heartbeat` and `frame_max` query parameters are honoured.
 */
import { ConfigurationError } from '../../errors.ts';
import { safeUrl } from '../../redis/url.ts';

export interface AmqpConnectTarget {
  /** amqplib's `Options.Connect`. */
  options: {
    protocol: 'amqp' | 'amqps';
    hostname: string;
    port: number;
    username: string;
    password: string;
    vhost: string;
    heartbeat?: number;
    frameMax?: number;
  };
  /** The vhost as kombu sees it (for messages). */
  vhost: string;
  /** The URL with the password masked. */
  safeUrl: string;
}

const SCHEMES: Record<string, 'amqp' | 'amqps'> = { amqp: 'amqp', pyamqp: 'amqp', librabbitmq: 'amqp', amqps: 'amqps' };

/** Whether `url` names an AMQP broker (the first URL of a failover list decides). */
export function isAmqpUrl(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
  return scheme !== undefined && scheme in SCHEMES;
}

function decode(part: string, what: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigurationError(`AMQP URL ${safeUrl(url)}: ${what} is not valid percent-encoding`);
  }
}

/** Parse an AMQP broker URL as kombu does. Throws {@link ConfigurationError} naming what was wrong. */
export function parseAmqpUrl(input: string): AmqpConnectTarget {
  const url = (input.split(';')[0] ?? '').trim();
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(url);
  const scheme = m?.[1]?.toLowerCase();
  const protocol = scheme ? SCHEMES[scheme] : undefined;
  if (!m || !protocol) throw new ConfigurationError(`not an AMQP URL: ${safeUrl(url)} (expected amqp://, amqps:// or pyamqp://)`);
  let parsed: URL;
  try {
    parsed = new URL(`http://${m[2] ?? ''}`);
  } catch (err) {
    throw new ConfigurationError(`invalid AMQP URL ${safeUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  // url_to_parts: strip one leading '/', unquote; an empty path means kombu's default vhost '/'.
  const rawPath = parsed.pathname.startsWith('/') ? parsed.pathname.slice(1) : parsed.pathname;
  const vhost = rawPath === '' ? '/' : decode(rawPath, 'the virtual host', url);
  const username = parsed.username ? decode(parsed.username, 'the user name', url) : 'guest';
  const password = parsed.password ? decode(parsed.password, 'the password', url) : 'guest';
  const hostname = (parsed.hostname || 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port ? Number(parsed.port) : protocol === 'amqps' ? 5671 : 5672;
  const options: AmqpConnectTarget['options'] = {
    protocol,
    hostname,
    port,
    username,
    password,
    // amqplib unescapes the vhost it is given (querystring.unescape): escape it so '%' survives.
    vhost: encodeURIComponent(vhost),
  };
  const heartbeat = parsed.searchParams.get('heartbeat');
  if (heartbeat !== null) {
    const n = Number(heartbeat);
    if (!Number.isFinite(n) || n < 0) throw new ConfigurationError(`AMQP URL ${safeUrl(url)}: heartbeat must be a number of seconds >= 0`);
    options.heartbeat = Math.trunc(n);
  }
  const frameMax = parsed.searchParams.get('frame_max');
  if (frameMax !== null) {
    const n = Number(frameMax);
    if (!Number.isInteger(n) || n < 0) throw new ConfigurationError(`AMQP URL ${safeUrl(url)}: frame_max must be an integer >= 0`);
    options.frameMax = n;
  }
  return { options, vhost, safeUrl: safeUrl(url) };
}
