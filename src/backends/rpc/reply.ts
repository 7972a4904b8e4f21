/**
 * The RPC backend's reply message (`RPCBackend.store_result` / `_to_result`), byte for byte what Celery
 * 5.6 publishes with kombu + py-amqp:
 *
 * - body: `{"task_id", "status", "result", "traceback", "children"}` (no `date_done`, no
 *   `result_extended` fields), serialized with `result_serializer`;
 * - published to the default exchange `''` (`Exchange(None)`) with routing key = the request's `reply_to`;
 * - properties: `content_type`/`content_encoding` of the serializer, `application_headers` `{}`,
 *   `delivery_mode` 1 (2 with `result_persistent`), `priority` 0 (kombu `Producer.priority`; the task's
 *   own priority is not used), `correlation_id` = the request's `correlation_id`, else the task id.
 *
 * Decoding checks the content type against `result_accept_content` (kombu `Consumer(accept=...)`) and
 * throws {@link RpcReplyError} naming the message (its correlation id) when it cannot be read.
 */
import { CeleriacError } from '../../../protocol/errors.ts';
import type { AmqpPublishOptions } from '../../../protocol/envelope/amqp.ts';
import { parseResultMeta, type ResultMeta, type RpcReply } from '../../../protocol/result.ts';
import { dumps, loads } from '../../../protocol/serialization/index.ts';
import type { PyValue } from '../../../protocol/values.ts';

/** A reply on the RPC reply queue could not be decoded or is not a result record. */
export class RpcReplyError extends CeleriacError {
  override name = 'RpcReplyError';
  override readonly code = 'ERPCREPLY';
  /** The message's `correlation_id` (the task id), when it had one. */
  readonly correlationId: string | null;
  constructor(message: string, correlationId: string | null, options?: { cause?: unknown }) {
    super(message, options);
    this.correlationId = correlationId;
  }
}

/** `_to_result` from a record built by `buildResultMeta` (drops `date_done` and extended fields). */
export function toRpcReply(meta: ResultMeta): RpcReply {
  return {
    task_id: meta.task_id,
    status: meta.status,
    result: meta.result,
    traceback: meta.traceback ?? null,
    children: meta.children ?? null,
  };
}

export interface RpcPublish {
  content: Buffer;
  options: AmqpPublishOptions & { correlationId: string; deliveryMode: number; priority: number };
}

/** The amqplib `publish('', replyTo, content, options)` arguments for a reply. */
export function encodeRpcReply(meta: ResultMeta, opts: { serializer: string; persistent: boolean; correlationId?: string | null }): RpcPublish {
  const { body, contentType, contentEncoding } = dumps(toRpcReply(meta) as unknown as PyValue, opts.serializer);
  return {
    content: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    options: {
      contentType,
      contentEncoding,
      headers: {},
      deliveryMode: opts.persistent ? 2 : 1,
      priority: 0,
      correlationId: opts.correlationId || meta.task_id,
    },
  };
}

/** The parts of an amqplib message a reply is read from. */
export interface ReplyMessage {
  content: Uint8Array;
  properties?: { correlationId?: unknown; contentType?: unknown; contentEncoding?: unknown } | null;
}

/**
 * A delivered reply → the record (`meta_from_decoded` is left to `resultValue`). The task id is the
 * body's `task_id`; the correlation id is returned too (Celery matches by it: `_get_message_task_id`).
 */
export function decodeRpcReply(msg: ReplyMessage, accept: readonly string[]): { meta: ResultMeta; correlationId: string | null } {
  const props = msg.properties ?? {};
  const correlationId = typeof props.correlationId === 'string' && props.correlationId !== '' ? props.correlationId : null;
  const ct = typeof props.contentType === 'string' ? props.contentType : '';
  const ce = typeof props.contentEncoding === 'string' ? props.contentEncoding : '';
  const which = `RPC reply${correlationId ? ` for task ${correlationId}` : ' without correlation_id'}`;
  let value: PyValue;
  try {
    value = loads(msg.content, ct, ce, accept);
  } catch (err) {
    throw new RpcReplyError(`${which} cannot be decoded (content_type ${JSON.stringify(ct)}, content_encoding ${JSON.stringify(ce)}): ${(err as Error).message}`, correlationId, { cause: err });
  }
  let meta: ResultMeta;
  try {
    meta = parseResultMeta(value, correlationId ?? undefined);
  } catch (err) {
    throw new RpcReplyError(`${which} is not a Celery result ({task_id, status, result, traceback, children}): ${(err as Error).message}`, correlationId, { cause: err });
  }
  return { meta, correlationId };
}
