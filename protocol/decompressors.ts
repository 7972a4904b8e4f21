/**
 * Step-wise decoders with an output cap (decompression bombs): each `next()` does a bounded amount of
 * work and returns at most one chunk of output (tens to hundreds of KB), so a caller can count the
 * output, stop at the limit before the next chunk is made, and yield to the event loop between chunks.
 *
 * - xz (`.xz`, concatenated streams too): xz-embedded compiled to wasm (the `xz-decompress` package),
 *   fed 64 KB of input at a time into a 64 KB output window. Its memory is the dictionary the stream
 *   declares (xz -9: 64 MiB), never the output.
 * - zstd: fzstd (pure JS), fed small slices of input so one step emits a few blocks (<= 128 KB each).
 *   Every frame header is read before decoding: a declared content size above the limit, or a window
 *   above what zstd itself accepts by default (2^27, ZSTD_WINDOWLOG_LIMIT_DEFAULT), is refused
 *   before anything is allocated.
 *
 * - bzip2: bzip2.ts, at most 65536 symbols or output positions and 64 KB of output per step.
 *
 * No I/O: the xz wasm is embedded in its package as base64 and compiled synchronously here.
 */
import { createRequire } from 'node:module';
import { Decompress as ZstdDecompress } from 'fzstd';

const require = createRequire(import.meta.url);

/**
 * One chunk of output per call (valid until the next call; empty when the step did work but has no
 * output yet), `null` once the input is fully decoded. Throws on corrupt input.
 */
export interface StepDecoder {
  next(): Uint8Array | null;
  /** Frees what the decoder holds (wasm context); safe to call twice. */
  dispose(): void;
}

/** zstd refuses frames whose window exceeds 2^27 bytes unless told otherwise (ZSTD_WINDOWLOG_LIMIT_DEFAULT). */
export const ZSTD_MAX_WINDOW = 2 ** 27;

/** A refusal the callers turn into "exceeds the limit" (not a corrupt-data error). */
export class OverLimit extends Error {}

// ---------------------------------------------------------------------------------------------
// xz

interface XzExports {
  memory: { buffer: ArrayBuffer };
  create_context(): number;
  destroy_context(ptr: number): void;
  supply_input(ptr: number, len: number): void;
  get_next_output(ptr: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array | ArrayBuffer) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  instantiate: (...args: unknown[]) => unknown;
}

let xzExports: XzExports | null = null;

/**
 * The package instantiates its embedded wasm asynchronously; its loader decodes the bytes
 * synchronously before `WebAssembly.instantiate`, so the bytes are taken there and compiled here.
 */
function xzWasm(): XzExports {
  if (xzExports) return xzExports;
  const { XzReadableStream } = require('xz-decompress') as { XzReadableStream: { _getModuleInstance(): unknown } };
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const original = wasm.instantiate;
  let bytes: Uint8Array | ArrayBuffer | undefined;
  wasm.instantiate = (b: unknown) => {
    bytes = b as Uint8Array | ArrayBuffer;
    return new Promise(() => {}); // never settles: the package keeps no instance of its own
  };
  try {
    void XzReadableStream._getModuleInstance();
  } finally {
    wasm.instantiate = original;
  }
  if (!bytes) throw new Error('xz-decompress: could not load its wasm');
  const instance = new wasm.Instance(new wasm.Module(bytes), {});
  return (xzExports = instance.exports as XzExports);
}

const XZ_OK = 0;
const XZ_STREAM_END = 1;
const XZ_ERRORS: Record<number, string> = {
  2: 'unsupported check', 3: 'unsupported check', 4: 'out of memory', 5: 'dictionary too large',
  6: 'not an xz stream (bad magic number)', 7: 'unsupported xz stream options', 8: 'corrupt xz data', 9: 'xz decoder error',
};

/** xz streams, one after the other (stream padding of zero bytes between them allowed), as `xz -d` and Python's lzma do. */
export function xzDecoder(input: Uint8Array): StepDecoder {
  const e = xzWasm();
  let ptr = 0;
  let off = 0; // next input byte not yet handed to the wasm
  let bufSize = 0, inStart = 0, outStart = 0;
  let ended = false;
  let eofSent = false;
  const view = () => new Uint32Array(e.memory.buffer, ptr, 6);
  const open = () => {
    ptr = e.create_context();
    if (!ptr) throw new Error('xz: out of memory');
    const m = view();
    bufSize = m[0]!;
    inStart = m[1]!;
    outStart = m[4]!;
  };
  const close = () => {
    if (ptr) e.destroy_context(ptr);
    ptr = 0;
  };
  open();
  return {
    next() {
      if (ended) return null;
      for (;;) {
        let m = view();
        if (m[2] === m[3] && off < input.length) {
          const n = Math.min(bufSize, input.length - off);
          new Uint8Array(e.memory.buffer, inStart, n).set(input.subarray(off, off + n));
          e.supply_input(ptr, n);
          off += n;
        }
        const r = e.get_next_output(ptr);
        m = view();
        const produced = m[5]!;
        const chunk = new Uint8Array(e.memory.buffer, outStart, produced); // a view: valid until the next call
        m[5] = 0;
        if (r === XZ_STREAM_END) {
          // concatenated streams: skip the padding (zero bytes), start a fresh decoder on the rest
          let rest = eofSent ? input.length : off - (m[3]! - m[2]!);
          while (rest < input.length && input[rest] === 0) rest++;
          close();
          if (rest >= input.length) {
            ended = true;
          } else {
            off = rest;
            eofSent = false;
            open();
          }
          if (produced > 0 || ended) return produced > 0 ? chunk : null;
          continue;
        }
        if (r !== XZ_OK) throw new Error(`xz: ${XZ_ERRORS[r] ?? `error ${r}`}`);
        if (produced > 0) return chunk;
        if (m[2] === m[3] && off >= input.length) {
          // all input consumed: the wrapper reports the end once told there is no more (an empty supply)
          if (eofSent) throw new Error('xz: truncated input (the stream does not end)');
          eofSent = true;
          e.supply_input(ptr, 0);
        }
      }
    },
    dispose() {
      close();
      ended = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// zstd

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * Walks every frame of `b` (block headers only) and refuses what could not fit: a declared content size
 * above `maxSize`, or a window above {@link ZSTD_MAX_WINDOW}. Corrupt structure throws a plain Error.
 */
export function checkZstdFrames(b: Uint8Array, maxSize: number): void {
  if (b.length === 0) throw new Error('not a zstd frame (empty body)');
  let pos = 0;
  let declared = 0;
  const need = (n: number) => {
    if (pos + n > b.length) throw new Error('zstd: truncated frame');
  };
  while (pos < b.length) {
    need(4);
    const magic = (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) { // skippable frame
      need(8);
      const size = (b[pos + 4]! | (b[pos + 5]! << 8) | (b[pos + 6]! << 16) | (b[pos + 7]! << 24)) >>> 0;
      pos += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new Error(pos === 0 ? 'not a zstd frame (bad magic number)' : 'zstd: garbage after a frame');
    pos += 4;
    need(1);
    const fhd = b[pos++]!;
    const fcsFlag = fhd >> 6;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const didSize = [0, 1, 2, 4][fhd & 3]!;
    let window = 0;
    if (!single) {
      need(1);
      const wd = b[pos++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    pos += didSize;
    const fcsSize = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
    need(fcsSize);
    let size: number | null = null;
    if (fcsSize > 0) {
      size = 0;
      for (let i = 0; i < fcsSize; i++) size += b[pos + i]! * 2 ** (8 * i);
      if (fcsSize === 2) size += 256;
    }
    pos += fcsSize;
    if (single) window = size ?? 0;
    if (size !== null) {
      declared += size;
      if (declared > maxSize) throw new OverLimit(`the frame header declares ${size} bytes`);
    }
    if (window > ZSTD_MAX_WINDOW) throw new OverLimit(`the frame needs a ${window}-byte window (zstd accepts at most ${ZSTD_MAX_WINDOW})`);
    for (let last = 0; !last;) {
      need(3);
      const h = b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16);
      pos += 3;
      last = h & 1;
      const type = (h >> 1) & 3;
      if (type === 3) throw new Error('zstd: reserved block type');
      pos += type === 1 ? 1 : h >>> 3;
      need(0);
    }
    if (checksum) pos += 4;
    need(0);
  }
}

/** Input is fed this many bytes at a time: at most a few 128 KB blocks of output per step. */
const ZSTD_SLICE = 64;

export function zstdDecoder(input: Uint8Array, maxSize: number): StepDecoder {
  checkZstdFrames(input, maxSize);
  const pending: Uint8Array[] = [];
  const z = new ZstdDecompress((data) => {
    if (data.length) pending.push(data);
  });
  let off = 0;
  let done = false;
  return {
    next() {
      for (;;) {
        const chunk = pending.shift();
        if (chunk) return chunk;
        if (done) return null;
        const end = Math.min(input.length, off + ZSTD_SLICE);
        z.push(input.subarray(off, end), end >= input.length);
        off = end;
        if (end >= input.length) done = true;
      }
    },
    dispose() {
      done = true;
      pending.length = 0;
    },
  };
}
