/**
 * Result backends by URL scheme (Celery's `result_backend` setting):
 *
 * | URL                                                  | backend                               |
 * |------------------------------------------------------|---------------------------------------|
 * | `redis://`, `rediss://`, `sentinel://`, `redis+socket://` (also `unix://`, `socket://`, `valkey://`) | {@link RedisBackend} |
 * | `rpc://` (replies through the AMQP `broker_url`)     | {@link RpcBackend}                    |
 * | `''`, `null`, `undefined`, `disabled`, `disabled://` | {@link DisabledBackend}               |
 */
import type { ResultBackend, StoreRequest, WaitOptions } from '../backend.ts';
import { NoResultBackendError } from '../backend.ts';
import { ConfigurationError, safeUrl } from '../redis/url.ts';
import type { ResultMeta } from '../../protocol/result.ts';
import type { PyValue } from '../../protocol/values.ts';
import { RedisBackend, type RedisBackendOptions } from './redis.ts';
import { RpcBackend, type RpcBackendOptions } from './rpc.ts';
import { isAmqpUrl } from '../brokers/amqp/url.ts';

export { RedisBackend } from './redis.ts';
export type { RedisBackendOptions, RedisBackendTransportOptions } from './redis.ts';
export { RpcBackend, RpcReplyError, MESSAGE_BUFFER_MAX } from './rpc.ts';
export type { RpcBackendOptions } from './rpc.ts';

/**
 * Backend settings (Celery's names). `broker_url`, `oid` and the broker connection settings
 * (`broker_use_ssl`, `broker_heartbeat`, `broker_connection_timeout`) are what `rpc://` needs from the app.
 */
export type BackendOptions = RedisBackendOptions &
  Pick<RpcBackendOptions, 'broker_url' | 'oid' | 'result_persistent' | 'broker_use_ssl' | 'broker_heartbeat' | 'broker_connection_timeout'>;

const E_NO_BACKEND = 'No result backend is configured. Set result_backend (e.g. redis://localhost:6379/0) to store and read task results.';
const E_CHORD_NO_BACKEND = 'Starting chords requires a result backend to be configured, but none was provided.';

/**
 * Celery's `DisabledBackend`: storing is a no-op (workers run fine without a backend), every read
 * throws {@link NoResultBackendError}.
 */
export class DisabledBackend implements ResultBackend {
  readonly safeUrl = 'disabled://';
  async connect(): Promise<void> {}
  async storeResult(_meta: ResultMeta, _request?: StoreRequest | null): Promise<void> {}
  async getTaskMeta(_taskId: string): Promise<ResultMeta> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async getMany(_taskIds: readonly string[]): Promise<ResultMeta[]> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async waitForReady(_taskId: string, _options?: WaitOptions): Promise<ResultMeta> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async forget(_taskId: string): Promise<void> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async saveGroup(_groupId: string, _resultTuple: PyValue): Promise<void> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async restoreGroup(_groupId: string): Promise<PyValue | null> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  async deleteGroup(_groupId: string): Promise<void> {
    throw new NoResultBackendError(E_NO_BACKEND);
  }
  /** Celery's `ensure_chords_allowed`. */
  ensureChordsAllowed(): never {
    throw new NoResultBackendError(E_CHORD_NO_BACKEND);
  }
  async close(): Promise<void> {}
}

/** The backend for a `result_backend` URL. Nothing connects until `connect()` or the first command. */
export function createBackend(url: string | null | undefined, options: BackendOptions = {}): ResultBackend {
  const text = (url ?? '').trim();
  if (text === '' || /^(disabled|none)(:\/\/\/?)?$/i.test(text)) return new DisabledBackend();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'redis':
    case 'rediss':
    case 'valkey':
    case 'valkeys':
    case 'sentinel':
    case 'redis+socket':
    case 'unix':
    case 'socket':
      return new RedisBackend(text, options);
    case 'rpc': {
      // Celery's rpc backend ignores the rest of the URL: replies travel through the broker connection.
      const broker = options.broker_url;
      if (!broker) {
        throw new ConfigurationError('result backend rpc:// sends results through the broker: set broker_url to an amqp:// URL');
      }
      if (!isAmqpUrl(broker)) {
        throw new ConfigurationError(
          `result backend rpc:// needs an AMQP broker (amqp://, amqps://, pyamqp://), but broker_url is ${safeUrl(broker)}; ` +
            'use a redis:// result backend with a Redis broker',
        );
      }
      return new RpcBackend(options);
    }
    default:
      throw new ConfigurationError(
        `unsupported result backend ${safeUrl(text)}: celeriac supports redis://, rediss://, sentinel://, redis+socket:// and rpc://`,
      );
  }
}
