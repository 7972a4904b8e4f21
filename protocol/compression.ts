/**
 * kombu's message compression (`kombu/compression.py`). The `compression` header carries the
 * mime type, never the alias. Both `zlib` and `gzip` mean `zlib.compress`, an RFC 1950 zlib stream.
 *
 * | aliases              | header value           | library                          |
 * |----------------------|------------------------|----------------------------------|
 * | `gzip`, `zlib`       | `application/x-gzip`   | node:zlib deflate (zlib stream)  |
 * | `bzip2`, `bzip`      | `application/x-bz2`    | compressjs Bzip2                 |
 * | `brotli`             | `application/x-brotli` | node:zlib brotli                 |
 * | `lzma`, `xz`         | `application/x-lzma`   | @napi-rs/lzma (.xz container)    |
 * | `zstd`, `zstandard`  | `application/zstd`     | @bokuweb/zstd-wasm               |
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { xz, lzma } from '@napi-rs/lzma';
import { ProtocolError } from './errors.ts';
import { zstd } from './zstd.ts';

interface Bzip2Module {
  compressFile(input: Uint8Array, output?: unknown, blockSizeMultiplier?: number): Uint8Array | number[];
  decompressFile(input: Uint8Array, output?: unknown, multistream?: boolean): Uint8Array | number[];
}
const Bzip2 = (createRequire(import.meta.url)('compressjs') as { Bzip2: Bzip2Module }).Bzip2;

/** Default refusal threshold for decompressed bodies (decompression bombs). */
export const DEFAULT_MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024;

export interface CompressionScheme {
  aliases: string[];
  contentType: string;
}

/** The schemes, in kombu's registration order. */
export const COMPRESSIONS: readonly CompressionScheme[] = Object.freeze([
  { aliases: ['gzip', 'zlib'], contentType: 'application/x-gzip' },
  { aliases: ['bzip2', 'bzip'], contentType: 'application/x-bz2' },
  { aliases: ['brotli'], contentType: 'application/x-brotli' },
  { aliases: ['lzma', 'xz'], contentType: 'application/x-lzma' },
  { aliases: ['zstd', 'zstandard'], contentType: 'application/zstd' },
]);

function resolve(name: string): string {
  for (const c of COMPRESSIONS) {
    if (c.contentType === name || c.aliases.includes(name)) return c.contentType;
  }
  const known = COMPRESSIONS.map((c) => `${c.aliases.join('/')} (${c.contentType})`).join(', ');
  throw new ProtocolError('compression', `unknown compression ${JSON.stringify(name)}; known: ${known}`);
}

/** The header value (mime type) for an alias or mime type; throws for unknown schemes. */
export function compressionContentType(name: string): string {
  return resolve(name);
}

function u8(b: Uint8Array | number[]): Uint8Array {
  if (b instanceof Uint8Array && Object.getPrototypeOf(b) === Uint8Array.prototype) return b;
  return Uint8Array.from(b);
}

function tooBig(scheme: string, maxSize: number): ProtocolError {
  return new ProtocolError('compression', `${scheme}: decompressed body exceeds the limit of ${maxSize} bytes`);
}

/** Compress `body` with the scheme named by alias or mime type. Returns the `compression` header value too. */
export function compress(body: Uint8Array, name: string): { body: Uint8Array; compression: string } {
  const compression = resolve(name);
  try {
    let out: Uint8Array | number[];
    switch (compression) {
      case 'application/x-gzip':
        out = zlib.deflateSync(body); // zlib.compress(): level 6, RFC 1950
        break;
      case 'application/x-bz2':
        out = Bzip2.compressFile(body, undefined, 9);
        break;
      case 'application/x-brotli':
        out = zlib.brotliCompressSync(body, {
          params: { [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength },
        });
        break;
      case 'application/x-lzma':
        out = xz.compressSync(body);
        break;
      default: // application/zstd
        out = zstd().compress(body, 3);
        break;
    }
    return { body: u8(out), compression };
  } catch (err) {
    throw new ProtocolError('compression', `${compression}: compression failed: ${(err as Error)?.message ?? err}`, { cause: err });
  }
}

/** Frame_Content_Size of the first zstd frame: a number, null when absent, or throws on bad magic. */
function zstdContentSize(b: Uint8Array): number | null {
  if (b.length < 5 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) {
    throw new Error('not a zstd frame (bad magic number)');
  }
  const fhd = b[4] ?? 0;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didSize = [0, 1, 2, 4][fhd & 3] ?? 0;
  const fcsSize = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag] ?? 0;
  if (fcsSize === 0) return null;
  let pos = 5 + (single ? 0 : 1) + didSize;
  if (b.length < pos + fcsSize) throw new Error('truncated zstd frame header');
  let size = 0;
  for (let i = 0; i < fcsSize; i++) size += (b[pos++] ?? 0) * 2 ** (8 * i);
  return fcsSize === 2 ? size + 256 : size;
}

function bz2Decompress(body: Uint8Array, maxSize: number): Uint8Array {
  let buf = new Uint8Array(Math.min(maxSize, Math.max(1024, body.length * 4)));
  let pos = 0;
  const out = {
    writeByte(b: number): void {
      if (pos >= buf.length) {
        if (buf.length >= maxSize) throw tooBig('application/x-bz2', maxSize);
        const next = new Uint8Array(Math.min(maxSize, buf.length * 2));
        next.set(buf);
        buf = next;
      }
      buf[pos++] = b;
    },
    write(src: ArrayLike<number>, off: number, len: number): number {
      for (let i = 0; i < len; i++) out.writeByte(src[off + i] ?? 0);
      return len;
    },
    flush(): void {},
  };
  if (body.length < 4 || body[0] !== 0x42 || body[1] !== 0x5a || body[2] !== 0x68) {
    throw new Error('not a bzip2 stream (bad magic number)');
  }
  Bzip2.decompressFile(body, out, true);
  return buf.slice(0, pos);
}

/**
 * Decompress `body` given the `compression` header value (or an alias). Garbage input or a body
 * that would inflate beyond `maxSize` bytes raises a {@link ProtocolError} (part `compression`).
 */
export function decompress(
  body: Uint8Array,
  compression: string,
  options: { maxSize?: number } = {},
): Uint8Array {
  const scheme = resolve(compression);
  const maxSize = options.maxSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE;
  let out: Uint8Array;
  try {
    switch (scheme) {
      case 'application/x-gzip':
        out = zlib.inflateSync(body, { maxOutputLength: Math.max(1, maxSize) });
        break;
      case 'application/x-bz2':
        out = bz2Decompress(body, maxSize);
        break;
      case 'application/x-brotli':
        out = zlib.brotliDecompressSync(body, { maxOutputLength: Math.max(1, maxSize) });
        break;
      case 'application/x-lzma': {
        // Python's lzma.decompress autodetects .xz and legacy .lzma ("alone") data.
        const isXz = body.length >= 6 && body[0] === 0xfd && body[1] === 0x37 && body[2] === 0x7a;
        out = isXz ? xz.decompressSync(body) : lzma.decompressSync(body);
        break;
      }
      default: {
        const size = zstdContentSize(body);
        if (size !== null) {
          if (size > maxSize) throw tooBig(scheme, maxSize);
          out = size === 0 ? new Uint8Array(0) : zstd().decompress(body, { defaultHeapSize: size });
        } else {
          // No declared size (Python's zstandard refuses such frames; we try growing buffers).
          let cap = Math.min(maxSize, 1 << 20);
          for (;;) {
            try {
              out = zstd().decompress(body, { defaultHeapSize: cap });
              break;
            } catch (err) {
              if (cap >= maxSize) throw err;
              cap = Math.min(maxSize, cap * 8);
            }
          }
        }
      }
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    const e = err as { code?: string; message?: string };
    if (e?.code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|too large/i.test(e?.message ?? '')) {
      throw tooBig(scheme, maxSize);
    }
    throw new ProtocolError('compression', `${scheme}: cannot decompress body: ${e?.message ?? String(err)}`, { cause: err });
  }
  if (out.byteLength > maxSize) throw tooBig(scheme, maxSize);
  return u8(out);
}
