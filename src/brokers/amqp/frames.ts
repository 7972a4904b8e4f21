/**
 * Content-header frames amqplib cannot decode.
 *
 * amqplib 2.3 decodes every frame in `Connection#recvFrame`; its field-table decoder throws on value
 * tags it does not know — py-amqp writes `L` for any int beyond 32 bits in `application_headers` — and
 * the throw becomes a `frameError` that closes the whole CONNECTION. The message stays unacked, comes
 * back after the reconnect, and kills the connection again: a silent loop.
 *
 * {@link installLenientHeaderFrames} replaces `recvFrame` (same code path, same frames) so that only a
 * content-header frame amqplib fails on is decoded again with {@link decodeBasicProperties} (py-amqp's
 * own rules, protocol/envelope/amqp-wire.ts). The properties then carry the headers already as
 * PyValues, marked with {@link PREDECODED}. If even that fails, the properties carry
 * {@link UNDECODABLE} (the ProtocolError): the consumer rejects that message to the dead-letter
 * exchange (or drops it, reported) instead of losing the connection. Other frames are untouched.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeBasicProperties } from '../../../protocol/envelope/amqp-wire.ts';
import { AMQP_PROPERTY_NAMES } from '../../../protocol/envelope/amqp.ts';

/** On amqplib properties whose `headers` are already PyValues (decoded by amqp-wire). */
export const PREDECODED = Symbol.for('celeriac.amqp.predecodedHeaders');
/** On amqplib properties that could not be decoded at all: the error. */
export const UNDECODABLE = Symbol.for('celeriac.amqp.undecodableProperties');

const FRAME_HEADER = 2;
const BASIC_CLASS = 60;

interface RawFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}

interface ConnLike {
  rest: Buffer;
  maxFrameSize: number;
  recvSinceLastCheck: boolean;
  stream: { read(): Buffer | null };
}

/** amqplib property names for py-amqp's (kombu) names. */
function toAmqplibProperties(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    const name = AMQP_PROPERTY_NAMES[k];
    if (!name) continue;
    out[name] = k === 'timestamp' && typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}

/** Decode a content-header frame amqplib refused; never throws. */
export function decodeHeaderFrameLeniently(payload: Buffer, channel: number): { id: number; channel: number; size: number; fields: Record<string | symbol, unknown> } {
  const id = payload.readUInt16BE(0);
  const size = Number(payload.readBigUInt64BE(4));
  let fields: Record<string | symbol, unknown>;
  try {
    fields = toAmqplibProperties(decodeBasicProperties(payload.subarray(12)) as Record<string, unknown>);
    fields[PREDECODED] = true;
  } catch (err) {
    fields = { [UNDECODABLE]: err };
  }
  return { id, channel, size, fields };
}

let installed = false;

/** Idempotent; affects every amqplib connection of the process, only for frames amqplib would fail on. */
export function installLenientHeaderFrames(): void {
  if (installed) return;
  const require = createRequire(import.meta.url);
  // amqplib's "exports" hides lib/: load its files by absolute path (the same module instances it uses)
  const main = require.resolve('amqplib');
  const lib = join(dirname(main), 'lib');
  const { Connection } = require(join(lib, 'connection.js')) as { Connection: { prototype: Record<string, unknown> } };
  const frame = require(join(lib, 'frame.js')) as {
    parseFrame(bin: Buffer, max: number): RawFrame | false;
    decodeFrame(f: RawFrame): unknown;
  };
  if (typeof Connection?.prototype?.recvFrame !== 'function' || typeof frame.parseFrame !== 'function' || typeof frame.decodeFrame !== 'function') {
    throw new Error('amqplib internals changed (Connection#recvFrame / frame.parseFrame): celeriac cannot install its header-frame fallback');
  }
  // amqplib 2.3.1 `recvFrame`, with a fallback for content-header frames only
  Connection.prototype.recvFrame = function recvFrame(this: ConnLike): unknown {
    for (;;) {
      const f = frame.parseFrame(this.rest, this.maxFrameSize);
      if (!f) {
        const incoming = this.stream.read();
        if (incoming === null) return false;
        this.recvSinceLastCheck = true;
        this.rest = Buffer.concat([this.rest, incoming]);
        continue;
      }
      this.rest = f.rest;
      try {
        return frame.decodeFrame(f);
      } catch (err) {
        if (f.type !== FRAME_HEADER || f.payload.length < 14 || f.payload.readUInt16BE(0) !== BASIC_CLASS) throw err;
        return decodeHeaderFrameLeniently(f.payload, f.channel);
      }
    }
  };
  installed = true;
}
