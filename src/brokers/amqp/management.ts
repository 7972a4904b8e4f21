/**
 * RabbitMQ's management HTTP API, for what AMQP itself cannot tell: the bindings (`celery list bindings`).
 * kombu's pyamqp transport asks the same API through pyrabbit (`kombu.utils.amq_manager.get_manager`),
 * and finds it the same way: the transport options `manager_hostname`, `manager_port` (15672),
 * `manager_userid`, `manager_password`, else the broker URL's host, user and password.
 *
 * Differences from kombu: only the broker's virtual host is listed (pyrabbit lists every vhost), and
 * only bindings to queues (not exchange-to-exchange ones, which have no queue to show).
 */
import type { BindingRow } from '../../broker.ts';
import { BrokerError } from '../errors.ts';
import type { AmqpEndpoint } from './url.ts';

/** The management API could not be asked (plugin not enabled, refused, wrong credentials). */
export class ManagementUnavailableError extends BrokerError {
  override name = 'ManagementUnavailableError';
  override readonly code = 'EAMQPMANAGEMENT';
}

export interface ManagementTarget {
  /** `http://host:port` (no credentials). */
  baseUrl: string;
  userid: string;
  password: string;
  vhost: string;
  timeoutMs: number;
}

function option(options: Record<string, unknown>, name: string): string | undefined {
  const v = options[`manager_${name}`];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

/** Where the management API of a broker endpoint is, as kombu's `get_manager` finds it. */
export function managementTarget(ep: AmqpEndpoint, transportOptions: Record<string, unknown> = {}, timeoutMs = 10_000): ManagementTarget {
  const host = option(transportOptions, 'hostname') ?? ep.hostname ?? 'localhost';
  const port = option(transportOptions, 'port') ?? '15672';
  return {
    baseUrl: `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`,
    userid: option(transportOptions, 'userid') ?? ep.username ?? 'guest',
    password: option(transportOptions, 'password') ?? ep.password ?? 'guest',
    vhost: ep.vhost,
    timeoutMs,
  };
}

interface ApiBinding {
  source?: unknown;
  destination?: unknown;
  destination_type?: unknown;
  routing_key?: unknown;
}

/** `GET /api/bindings/<vhost>`: the queue bindings of the vhost, optionally of these exchanges only. */
export async function managementBindings(t: ManagementTarget, exchanges?: readonly string[]): Promise<BindingRow[]> {
  const url = `${t.baseUrl}/api/bindings/${encodeURIComponent(t.vhost)}`;
  const where = `RabbitMQ's management API (${url})`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${t.userid}:${t.password}`).toString('base64')}`, accept: 'application/json' },
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new ManagementUnavailableError(`${where} did not answer (${why}): enable the rabbitmq_management plugin, or set broker_transport_options manager_hostname / manager_port`, { cause: err });
  }
  if (!res.ok) {
    const hint = res.status === 401 ? ': check the user and password (manager_userid / manager_password)' : '';
    throw new ManagementUnavailableError(`${where} answered ${res.status} ${res.statusText}${hint}`);
  }
  let doc: unknown;
  try {
    doc = await res.json();
  } catch (err) {
    throw new ManagementUnavailableError(`${where} did not answer JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(doc)) throw new ManagementUnavailableError(`${where} did not answer a list of bindings`);
  const wanted = exchanges ? new Set(exchanges) : null;
  const rows: BindingRow[] = [];
  for (const b of doc as ApiBinding[]) {
    if (b?.destination_type !== 'queue' || typeof b.destination !== 'string') continue;
    const exchange = typeof b.source === 'string' ? b.source : '';
    if (wanted && !wanted.has(exchange)) continue;
    rows.push({ queue: b.destination, exchange, routingKey: typeof b.routing_key === 'string' ? b.routing_key : '' });
  }
  return rows;
}
