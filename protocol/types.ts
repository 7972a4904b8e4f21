/**
 * The shapes of Celery's wire formats (protocol v2), shared by every module of the codec.
 * Field names are Celery's own (snake_case), so they compare 1:1 with what Python puts on the wire.
 */
import type { PyDict, PyValue } from './values.ts';

/** A canvas signature as it travels: a plain dict (`celery.canvas.Signature`). */
export interface SignatureDict {
  task: string;
  args: PyValue[];
  kwargs: PyDict;
  options: PyDict;
  subtask_type: string | null;
  immutable: boolean;
  chord_size?: number | null;
  [extra: string]: PyValue | undefined;
}

/** `embed`, the third element of the body. */
export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  /** Remaining chain steps, reversed: the next step is the LAST element. */
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** The body `[args, kwargs, embed]`. */
export interface TaskBody {
  args: PyValue[];
  kwargs: PyDict;
  embed: Embed;
}

/** Headers Celery 5.x sets on every v2 task message (in Celery's order), plus custom headers merged flat. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  /** ISO 8601; naive means UTC. */
  eta: string | null;
  /** ISO 8601; naive means UTC. */
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** `[hard, soft]` seconds. */
  timelimit: [number | null, number | null];
  root_id: string | null;
  parent_id: string | null;
  argsrepr: string | null;
  kwargsrepr: string | null;
  origin: string | null;
  ignore_result: boolean;
  replaced_task_nesting: number;
  stamped_headers: string[] | null;
  stamps: PyDict;
  /** Custom headers from `apply_async(headers=...)`, kombu's `compression`, `redelivered`, `x-*`... */
  [custom: string]: PyValue | undefined;
}

/** Message properties as kombu names them (AMQP basic properties). */
export interface TaskProperties {
  correlation_id: string;
  reply_to: string | null;
  /** 2 = persistent, 1 = transient. */
  delivery_mode: number;
  priority: number;
  content_type: string;
  content_encoding: string;
  /** Milliseconds, as a decimal string. */
  expiration?: string;
  [other: string]: PyValue | undefined;
}

/** Where a message came from / was published to. */
export interface DeliveryInfo {
  exchange: string;
  routing_key: string;
  priority?: number;
  redelivered?: boolean;
  [other: string]: PyValue | undefined;
}

/**
 * A transport-neutral raw message: what a Redis envelope or an AMQP delivery carries once the
 * transport framing is removed. The body is still serialized and possibly compressed.
 */
export interface RawMessage {
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
  headers: PyDict;
  /** All properties except content type/encoding and headers (kombu names: `correlation_id`, ...). */
  properties: PyDict;
  deliveryInfo: DeliveryInfo;
  /** Redis: the envelope's `delivery_tag` (uuid); AMQP: the channel's delivery tag as a string. */
  deliveryTag?: string;
}

/** A decoded task message in protocol v2 form. */
export interface TaskMessage {
  /** The protocol the message arrived in. v1 messages are converted to v2 the way Celery's worker does. */
  protocol: 1 | 2;
  headers: TaskHeaders;
  properties: TaskProperties;
  body: TaskBody;
  deliveryInfo?: DeliveryInfo;
  /**
   * Protocol v1 only: the body's `utc` flag (Celery: `body.get('utc', True)`). `false` means a naive
   * `eta`/`expires` is in the sender's local time. Absent for v2 messages.
   */
  utc?: boolean;
}
