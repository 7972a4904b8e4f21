/**
 * kombu's message compression (`kombu/compression.py`). The `compression` header carries the
 * mime type, never the alias. Both `zlib` and `gzip` mean `zlib.compress`, an RFC 1950 zlib stream.
 *
 * | aliases              | header value           | library                          |
 * |----------------------|------------------------|----------------------------------|
 * | `gzip`, `zlib`       | `application/x-gzip`   | node:zlib deflate (zlib stream)  |
 * | `bzip2`, `bzip`      | `application/x-bz2`    | compressjs Bzip2 (compress), bzip2.ts (decompress) |
 * | `brotli`             | `application/x-brotli` | node:zlib brotli                 |
 * | `lzma`, `xz`         | `application/x-lzma`   | @napi-rs/lzma (compress), xz-embedded wasm (decompress) |
 * | `zstd`, `zstandard`  | `application/zstd`     | @bokuweb/zstd-wasm (compress), fzstd (decompress) |
 *
 * Decompression counts its output while it runs and stops at `maxSize` (decompression bombs, headers
 * that lie about or omit the size, concatenated members): see decompressors.ts for xz and zstd, bzip2.ts
 * for bzip2.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { xz, lzma } from '@napi-rs/lzma';
import { ProtocolError } from './errors.ts';
import { zstd } from './zstd.ts';
import { OverLimit, xzDecoder, zstdDecoder, type StepDecoder } from './decompressors.ts';
import { bzip2Decoder } from './bzip2.ts';

interface Bzip2Module {
  compressFile(input: Uint8Array, output?: unknown, blockSizeMultiplier?: number): Uint8Array | number[];
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
  return new ProtocolError('compression', `${schemeName(scheme)}: decompressed body exceeds the limit of ${maxSize} bytes (refused while decompressing)`);
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

/** Options of {@link decompress} and {@link decompressAsync}. */
export interface DecompressOptions {
  /** Refuse a body that inflates beyond this many bytes (default {@link DEFAULT_MAX_DECOMPRESSED_SIZE}). */
  maxSize?: number;
}

/** The mime type with its aliases, as refusals name the scheme: `application/x-lzma (lzma/xz)`. */
function schemeName(scheme: string): string {
  const c = COMPRESSIONS.find((x) => x.contentType === scheme);
  return c ? `${scheme} (${c.aliases.join('/')})` : scheme;
}

/**
 * Output, counted: refuses the chunk that would pass the limit before keeping it. Chunks are copied into
 * blocks of up to 4 MiB (few large allocations: thousands of small ones made V8 collect for hundreds of ms).
 */
class Output {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  #block: Uint8Array | null = null;
  #pos = 0;
  constructor(readonly scheme: string, readonly maxSize: number) {}
  add(chunk: Uint8Array): void {
    if (this.size + chunk.byteLength > this.maxSize) throw tooBig(this.scheme, this.maxSize);
    this.size += chunk.byteLength;
    let off = 0;
    while (off < chunk.byteLength) {
      if (!this.#block || this.#pos === this.#block.byteLength) {
        this.#flush();
        this.#block = new Uint8Array(Math.min(4 << 20, Math.max(64 << 10, this.maxSize - this.size + chunk.byteLength - off)));
      }
      const n = Math.min(chunk.byteLength - off, this.#block.byteLength - this.#pos);
      this.#block.set(chunk.subarray(off, off + n), this.#pos);
      this.#pos += n;
      off += n;
    }
  }
  #flush(): void {
    if (this.#block && this.#pos > 0) this.chunks.push(this.#pos === this.#block.byteLength ? this.#block : this.#block.subarray(0, this.#pos));
    this.#block = null;
    this.#pos = 0;
  }
  result(): Uint8Array {
    this.#flush();
    if (this.chunks.length === 1) return this.chunks[0]!.slice();
    const out = new Uint8Array(this.size);
    let pos = 0;
    for (const c of this.chunks) {
      out.set(c, pos);
      pos += c.byteLength;
    }
    return out;
  }
}

const isXz = (b: Uint8Array) => b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0;

/**
 * Legacy `.lzma` ("alone", what Python's lzma.decompress also reads): the decoder has no output cap, so
 * it runs only when the header declares a size within the limit (it stops there); no size, refused.
 */
function lzmaAlone(body: Uint8Array, scheme: string, maxSize: number): Uint8Array {
  if (body.length < 13) throw new Error('not an xz or lzma stream (too short)');
  let size = 0;
  let unknown = true;
  for (let i = 0; i < 8; i++) {
    const b = body[5 + i]!;
    if (b !== 0xff) unknown = false;
    size += b * 2 ** (8 * i);
  }
  if (unknown) throw new ProtocolError('compression', `${schemeName(scheme)}: a legacy .lzma body without a declared size is refused (its size cannot be bounded while decompressing)`);
  if (size > maxSize) throw tooBig(scheme, maxSize);
  const out = lzma.decompressSync(body);
  if (out.byteLength > size || out.byteLength > maxSize) throw tooBig(scheme, maxSize);
  return out;
}

function stepDecoder(body: Uint8Array, scheme: string, maxSize: number): StepDecoder {
  switch (scheme) {
    case 'application/zstd':
      return zstdDecoder(body, maxSize);
    case 'application/x-bz2':
      return bzip2Decoder(body);
    default:
      return xzDecoder(body);
  }
}

function decodeError(err: unknown, scheme: string, maxSize: number): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof OverLimit) {
    return new ProtocolError('compression', `${schemeName(scheme)}: decompressed body exceeds the limit of ${maxSize} bytes (${err.message})`);
  }
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|too large/i.test(e?.message ?? '')) return tooBig(scheme, maxSize);
  return new ProtocolError('compression', `${schemeName(scheme)}: cannot decompress body: ${e?.message ?? String(err)}`, { cause: err });
}

/**
 * Decompress `body` given the `compression` header value (or an alias). Every scheme stops as soon as
 * its output would pass `maxSize` (counted while decompressing, whatever the headers inside claim), so
 * memory stays within the limit plus the decoder's own state. Garbage input or a body that would inflate
 * beyond `maxSize` bytes raises a {@link ProtocolError} (part `compression`) naming the scheme.
 * Synchronous: it blocks until done or refused; a worker uses {@link decompressAsync}.
 */
export function decompress(body: Uint8Array, compression: string, options: DecompressOptions = {}): Uint8Array {
  const scheme = resolve(compression);
  const maxSize = options.maxSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE;
  try {
    switch (scheme) {
      case 'application/x-gzip':
        return u8(zlib.inflateSync(body, { maxOutputLength: Math.max(1, maxSize) }));
      case 'application/x-brotli':
        return u8(zlib.brotliDecompressSync(body, { maxOutputLength: Math.max(1, maxSize) }));
      default: {
        if (scheme === 'application/x-lzma' && !isXz(body)) return u8(lzmaAlone(body, scheme, maxSize));
        const out = new Output(scheme, maxSize);
        const d = stepDecoder(body, scheme, maxSize);
        try {
          for (let c = d.next(); c !== null; c = d.next()) out.add(c);
        } finally {
          d.dispose();
        }
        return out.result();
      }
    }
  } catch (err) {
    throw decodeError(err, scheme, maxSize);
  }
}

/** How long one step of {@link decompressAsync} may hold the event loop before it yields. */
const SLICE_MS = 4;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * {@link decompress} without holding the event loop: zlib and brotli inflate on libuv's thread pool
 * (with the same output cap); xz, zstd and bzip2 decode a chunk at a time, counting the output and
 * yielding to the event loop every few milliseconds.
 */
export async function decompressAsync(body: Uint8Array, compression: string, options: DecompressOptions = {}): Promise<Uint8Array> {
  const scheme = resolve(compression);
  const maxSize = options.maxSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE;
  try {
    switch (scheme) {
      case 'application/x-gzip':
      case 'application/x-brotli': {
        const opts = { maxOutputLength: Math.max(1, maxSize) };
        const out = await new Promise<Buffer>((resolve, reject) => {
          const cb = (err: Error | null, result: Buffer) => (err ? reject(err) : resolve(result));
          if (scheme === 'application/x-gzip') zlib.inflate(body, opts, cb);
          else zlib.brotliDecompress(body, opts, cb);
        });
        return u8(out);
      }
      default: {
        if (scheme === 'application/x-lzma' && !isXz(body)) return u8(lzmaAlone(body, scheme, maxSize));
        const out = new Output(scheme, maxSize);
        const d = stepDecoder(body, scheme, maxSize);
        try {
          let since = performance.now();
          for (let c = d.next(); c !== null; c = d.next()) {
            out.add(c);
            if (performance.now() - since > SLICE_MS) {
              await yieldToLoop();
              since = performance.now();
            }
          }
        } finally {
          d.dispose();
        }
        return out.result();
      }
    }
  } catch (err) {
    throw decodeError(err, scheme, maxSize);
  }
}
