/**
 * All errors the protocol layer raises. One hierarchy, each with a stable `name` and `code`,
 * and `cause` when it wraps a lower-level failure.
 */

/** Which part of a message a {@link ProtocolError} is about. */
export type MessagePart =
  | 'envelope'
  | 'headers'
  | 'properties'
  | 'body'
  | 'content-type'
  | 'compression'
  | 'serializer'
  | 'result'
  | 'signature'
  | 'exception';

export class CeleriacError extends Error {
  override name = 'CeleriacError';
  readonly code: string = 'ECELERIAC';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A message (or a part of it) could not be decoded or encoded. `part` says which part was wrong. */
export class ProtocolError extends CeleriacError {
  override name = 'ProtocolError';
  override readonly code: string = 'EPROTOCOL';
  readonly part: MessagePart;
  /** Dotted path inside the part, when known, e.g. `headers.timelimit[0]`. */
  readonly path: string | undefined;
  constructor(part: MessagePart, message: string, options?: { cause?: unknown; path?: string }) {
    super(`${part}${options?.path ? ` (${options.path})` : ''}: ${message}`, options);
    this.part = part;
    this.path = options?.path;
  }
}

/**
 * The content type is not in the configured `accept_content` (Celery's `ContentDisallowed`).
 * The message names the content type and the setting to change.
 */
export class ContentDisallowed extends ProtocolError {
  override name = 'ContentDisallowed';
  override readonly code = 'ECONTENTDISALLOWED';
  readonly contentType: string;
  constructor(contentType: string, accept: readonly string[], setting = 'accept_content') {
    super(
      'content-type',
      `refusing to deserialize content of type ${JSON.stringify(contentType)}: not in ${setting} ` +
        `[${accept.map((a) => JSON.stringify(a)).join(', ')}]` +
        (/pickle|python-serialize/.test(contentType)
          ? '; pickle can only be read by Python, use json, msgpack or yaml'
          : `; add it to ${setting} to accept it`),
    );
    this.contentType = contentType;
  }
}

/** A value cannot be represented by the chosen serializer (kombu's `EncodeError`). */
export class EncodeError extends ProtocolError {
  override name = 'EncodeError';
  override readonly code = 'EENCODE';
}

/** A body could not be decoded by its serializer (kombu's `DecodeError`). */
export class DecodeError extends ProtocolError {
  override name = 'DecodeError';
  override readonly code = 'EDECODE';
}
