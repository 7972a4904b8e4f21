/**
 * `celeriac decode`: read one raw message on stdin and print the logical message as JSON.
 * For people debugging a stuck queue: paste what `LRANGE` (Redis) or the RabbitMQ management
 * UI / API (`payload`, `payload_encoding`, `properties`) shows.
 */
import type { Command } from 'commander';
import { ProtocolError } from '../../protocol/errors.ts';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { AMQP_PROPERTY_NAMES, fromAmqpMessage } from '../../protocol/envelope/amqp.ts';
import { decodeTaskMessage, decodeTaskHeaders } from '../../protocol/message.ts';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { reportError } from './exit.ts';

export interface DecodeOptions {
  /** Serializers to accept (names or content types). */
  accept: string[];
  /** Only decode headers and properties, never the body. */
  headersOnly?: boolean;
}


function text(value: PyValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An AMQP message written as JSON (ours, or the RabbitMQ management API's) to a RawMessage. */
export function amqpJsonToRaw(obj: PyDict): RawMessage {
  const bodyText = text(obj.body) ?? text(obj.payload);
  if (bodyText === undefined) throw new ProtocolError('envelope', 'AMQP message JSON needs a string "body" or "payload"');
  const encoding = (text(obj.body_encoding) ?? text(obj.payload_encoding) ?? 'base64').toLowerCase();
  let content: Uint8Array;
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(bodyText)) {
      throw new ProtocolError('envelope', 'body is not valid base64 (set "body_encoding": "string" for a text body)');
    }
    content = Buffer.from(bodyText, 'base64');
  } else if (encoding === 'string' || encoding === 'utf-8' || encoding === 'utf8') {
    content = Buffer.from(bodyText, 'utf8');
  } else {
    throw new ProtocolError('envelope', `unknown body_encoding ${JSON.stringify(encoding)}: use "base64" or "string"`);
  }
  const props = obj.properties ?? {};
  if (!isPlainObject(props)) throw new ProtocolError('properties', '"properties" must be an object');
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props as PyDict)) {
    if (key === 'headers' || key === 'application_headers') continue; // taken below
    properties[AMQP_PROPERTY_NAMES[key] ?? key] = value;
  }
  const headers = obj.headers ?? (props as PyDict).headers ?? (props as PyDict).application_headers ?? {};
  if (headers !== null && !isPlainObject(headers)) throw new ProtocolError('headers', '"headers" must be an object');
  properties.headers = headers ?? {};
  const info = isPlainObject(obj.delivery_info) ? (obj.delivery_info as PyDict) : obj;
  return fromAmqpMessage({
    content,
    fields: {
      exchange: text(info.exchange) ?? '',
      routingKey: text(info.routing_key) ?? '',
      redelivered: info.redelivered === true,
      deliveryTag: 0,
    },
    properties: properties as never,
  });
}

/** Detects the input format and returns the transport-neutral raw message. */
export function rawFromInput(input: string): RawMessage {
  const trimmed = input.trim();
  if (trimmed === '') throw new ProtocolError('envelope', 'no input: pipe one raw message into stdin');
  let parsed: PyValue;
  try {
    parsed = parseKombuJson(trimmed);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^body: /, '') : String(err);
    throw new ProtocolError('envelope', `input is not a JSON message (${why})`, { cause: err });
  }
  const obj = Array.isArray(parsed) && parsed.length === 1 ? parsed[0] : parsed;
  if (!isPlainObject(obj)) {
    throw new ProtocolError('envelope', 'expected a JSON object: a Redis envelope or an AMQP message as JSON');
  }
  const dict = obj as PyDict;
  if ('content-type' in dict || (isPlainObject(dict.properties) && 'body_encoding' in (dict.properties as PyDict))) {
    return decodeRedisEnvelope(trimmed);
  }
  if ('body' in dict || 'payload' in dict) return amqpJsonToRaw(dict);
  throw new ProtocolError(
    'envelope',
    'not a message: a Redis envelope has "body", "content-type", "headers" and "properties"; ' +
      'an AMQP message needs "body" (or "payload") and "properties"',
  );
}

/** Decodes one raw message and returns the logical message as a kombu-JSON string. */
export function decodeToJson(input: string, options: DecodeOptions): string {
  const raw = rawFromInput(input);
  if (options.headersOnly) {
    const h = decodeTaskHeaders(raw);
    return stringifyKombuJson({
      protocol: h.protocol,
      headers: (h.headers ?? {}) as PyDict,
      properties: raw.properties,
      content_type: raw.contentType,
      content_encoding: raw.contentEncoding,
      delivery_info: raw.deliveryInfo as PyDict,
    });
  }
  const msg = decodeTaskMessage(raw, { accept: options.accept });
  return stringifyKombuJson({
    protocol: msg.protocol,
    headers: msg.headers as PyDict,
    properties: msg.properties as PyDict,
    delivery_info: (msg.deliveryInfo ?? raw.deliveryInfo) as PyDict,
    body: { args: msg.body.args, kwargs: msg.body.kwargs, embed: msg.body.embed as unknown as PyDict },
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description(
      'Decode one raw message from stdin (a Redis list element, or an AMQP message as JSON with body, ' +
        'properties and headers) and print the logical message as JSON',
    )
    .option('--accept <serializers>', 'serializers to accept, comma separated', 'json,msgpack,yaml')
    .option('--headers-only', 'decode headers and properties only, not the body')
    .option('--pretty', 'indent the output')
    .action(async (opts: { accept: string; headersOnly?: boolean; pretty?: boolean }, command: Command) => {
      try {
        const out = decodeToJson(await readStdin(), {
          accept: opts.accept.split(',').map((s) => s.trim()).filter(Boolean),
          headersOnly: opts.headersOnly ?? false,
        });
        process.stdout.write((opts.pretty ? indent(out) : out) + '\n');
      } catch (err) {
        // bad input exits 65 (EX_DATAERR) with the ProtocolError naming the part that was wrong
        process.exitCode = reportError('decode', err, { traceback: command.optsWithGlobals().traceback === true });
      }
    });
}

/** Re-indents compact JSON text without re-parsing numbers (so big integers stay exact). */
export function indent(json: string): string {
  let out = '';
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += json[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      if (json[i + 1] === close) {
        out += c + close;
        i++;
      } else out += c + '\n' + '  '.repeat(++depth);
    } else if (c === '}' || c === ']') out += '\n' + '  '.repeat(--depth) + c;
    else if (c === ',') out += ',\n' + '  '.repeat(depth);
    else if (c === ':') out += ': ';
    else if (c !== ' ' && c !== '\n' && c !== '\t' && c !== '\r') out += c;
  }
  return out;
}
