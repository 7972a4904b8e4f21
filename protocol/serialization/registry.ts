/**
 * kombu's `SerializerRegistry` (`kombu/serialization.py`): names, content types, `dumps`/`loads`
 * and the `accept_content` whitelist.
 */
import { ContentDisallowed, DecodeError, EncodeError, ProtocolError } from '../errors.ts';
import type { PyValue } from '../values.ts';
import { decodeKombuJson, encodeKombuJson } from './json.ts';
import { decodeMsgpack, encodeMsgpack } from './msgpack.ts';
import { decodeYaml, encodeYaml } from './yaml.ts';

export interface Serializer {
  name: string;
  contentType: string;
  contentEncoding: string;
  encode(value: PyValue): Uint8Array;
  decode(body: Uint8Array): PyValue;
}

export const SERIALIZERS: Readonly<Record<'json' | 'msgpack' | 'yaml', Serializer>> = Object.freeze({
  json: Object.freeze({
    name: 'json',
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    encode: encodeKombuJson,
    decode: decodeKombuJson,
  }),
  msgpack: Object.freeze({
    name: 'msgpack',
    contentType: 'application/x-msgpack',
    contentEncoding: 'binary',
    encode: encodeMsgpack,
    decode: decodeMsgpack,
  }),
  yaml: Object.freeze({
    name: 'yaml',
    contentType: 'application/x-yaml',
    contentEncoding: 'utf-8',
    encode: encodeYaml,
    decode: decodeYaml,
  }),
});

const PICKLE_TYPE = 'application/x-python-serialize';
/** Content types kombu always trusts, whatever `accept` says. */
export const TRUSTED_CONTENT: readonly string[] = Object.freeze(['application/data', 'application/text']);
const SKIP_DECODE = new Set(['binary', 'ascii-8bit']);

const BY_KEY = new Map<string, Serializer>();
for (const s of Object.values(SERIALIZERS)) {
  BY_KEY.set(s.name, s);
  BY_KEY.set(s.contentType, s);
}

function knownList(): string {
  return Object.values(SERIALIZERS)
    .map((s) => `${s.name} (${s.contentType})`)
    .join(', ');
}

/**
 * Register a serializer under its name and content type, as kombu's `registry.register` (Celery's
 * `auth` serializer, protocol/security, registers itself here). Replaces one of the same name.
 */
export function registerSerializer(s: Serializer): void {
  unregisterSerializer(s.name);
  BY_KEY.set(s.name, s);
  BY_KEY.set(s.contentType, s);
}

/** Undo {@link registerSerializer} (the built-in serializers cannot be removed). */
export function unregisterSerializer(name: string): void {
  const s = BY_KEY.get(name);
  if (!s || Object.values(SERIALIZERS).includes(s)) return;
  BY_KEY.delete(name);
  if (BY_KEY.get(s.contentType) === s) BY_KEY.delete(s.contentType);
}

/** Look up a serializer by name (`json`) or content type (`application/json`). */
export function getSerializer(nameOrContentType: string): Serializer {
  const s = BY_KEY.get(nameOrContentType);
  if (s) return s;
  if (nameOrContentType === 'auth') {
    throw new ProtocolError('serializer', 'the auth serializer signs with security_key, security_certificate and security_cert_store: set them (Celery: app.setup_security())');
  }
  if (nameOrContentType === 'pickle' || nameOrContentType === PICKLE_TYPE) {
    throw new ProtocolError(
      'serializer',
      `pickle (${PICKLE_TYPE}) can only be produced and read by Python; use json, msgpack or yaml`,
    );
  }
  throw new ProtocolError('serializer', `unknown serializer ${JSON.stringify(nameOrContentType)}; known: ${knownList()}`);
}

const NAME_TO_TYPE: Record<string, string> = {
  json: 'application/json',
  msgpack: 'application/x-msgpack',
  yaml: 'application/x-yaml',
  pickle: PICKLE_TYPE,
  auth: 'application/data', // Celery's message signing (protocol/security)
};

/** kombu's `prepare_accept_content`: names become content types; anything with a `/` is kept. */
export function prepareAcceptContent(accept: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const a of accept) {
    if (a.includes('/')) out.add(a);
    else {
      const t = NAME_TO_TYPE[a];
      if (!t) throw new ProtocolError('serializer', `no encoder/decoder installed for ${JSON.stringify(a)} in accept_content; known: ${knownList()}, pickle`);
      out.add(t);
    }
  }
  return out;
}

/**
 * Encode with the named serializer (default json). `raw` passes a string/bytes through as
 * `application/data` like kombu's `raw_encode`.
 */
export function dumps(
  value: PyValue,
  serializer = 'json',
): { body: Uint8Array; contentType: string; contentEncoding: string } {
  if (serializer === 'raw') {
    if (typeof value === 'string') return { body: new TextEncoder().encode(value), contentType: 'application/data', contentEncoding: 'utf-8' };
    if (value instanceof Uint8Array) return { body: value, contentType: 'application/data', contentEncoding: 'binary' };
    throw new EncodeError('body', 'the raw serializer only takes a string or bytes');
  }
  const s = getSerializer(serializer);
  return { body: s.encode(value), contentType: s.contentType, contentEncoding: s.contentEncoding };
}

function decodeText(body: Uint8Array, encoding: string): string {
  const enc = encoding.replace(/_/g, '-');
  try {
    switch (enc) {
      case 'utf-8':
      case 'utf8':
      case 'u8':
        return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
      case 'ascii':
      case 'us-ascii':
        for (let i = 0; i < body.length; i++) if ((body[i] ?? 0) > 0x7f) throw new Error(`ordinal not in range(128) at position ${i}`);
        return Buffer.from(body).toString('latin1');
      case 'latin-1':
      case 'latin1':
      case 'iso-8859-1':
      case 'iso8859-1':
        return Buffer.from(body).toString('latin1');
      case 'utf-16':
      case 'utf-16le':
      case 'utf-16be':
        return new TextDecoder(enc, { fatal: true }).decode(body);
      default:
        throw new ProtocolError('body', `unknown content_encoding ${JSON.stringify(encoding)}`);
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw new DecodeError('body', err.message, { cause: err });
    throw new DecodeError('body', `body is not valid ${encoding}: ${(err as Error)?.message ?? err}`, { cause: err });
  }
}

/**
 * Decode a body like kombu's `SerializerRegistry.loads(data, content_type, content_encoding, accept)`.
 *
 * - An empty content type means `application/data`.
 * - Content types other than `application/data` / `application/text` must be in `accept` (names or
 *   content types, default `['json']`), else {@link ContentDisallowed}. Note `text/plain` is not trusted.
 * - An empty body is returned as is (empty bytes), without decoding.
 * - Known serializers decode; otherwise the body is decoded as text with its `content_encoding`
 *   (default `utf-8`), unless that is `binary` / `ascii-8bit`, in which case the bytes are returned.
 */
export function loads(
  body: Uint8Array,
  contentType: string,
  contentEncoding: string,
  accept: readonly string[] = ['json'],
): PyValue {
  const ct = contentType || 'application/data';
  const accepted = prepareAcceptContent(accept);
  if (!TRUSTED_CONTENT.includes(ct) && !accepted.has(ct)) throw new ContentDisallowed(ct, accept);
  const ce = (contentEncoding || 'utf-8').toLowerCase();
  if (body.length === 0) return body;
  const s = BY_KEY.get(ct);
  if (s && s.contentType === ct) return s.decode(body);
  if (ct === PICKLE_TYPE) {
    throw new DecodeError('body', 'pickle (application/x-python-serialize) bodies can only be read by Python');
  }
  if (!SKIP_DECODE.has(ce)) return decodeText(body, ce);
  return body;
}
