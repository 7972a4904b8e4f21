/**
 * bzip2 decoding a bounded step at a time (decompression bombs): a {@link StepDecoder} whose `next()`
 * decodes at most {@link STEP_WORK} symbols or output positions and returns at most {@link CHUNK} bytes,
 * so the caller counts the output, stops at its limit and yields to the event loop between steps.
 *
 * Format facts it rests on (bzip2 1.0.x, libbzip2's decoder):
 * - A body is one or more streams: `BZh` + level `1`-`9`, blocks, then the end-of-stream marker
 *   (48 bits 0x177245385090) and the stream CRC, padded to a byte. Everything else is bit-packed, MSB first.
 * - A block: 48 bits 0x314159265359, block CRC (32), randomised flag (1), origPtr (24), the symbol map
 *   (16 bits of used ranges, 16 bits each), nGroups (3, 2-6), nSelectors (15, MTF'd unary selectors;
 *   libbzip2 keeps at most 18002), per group a delta-coded length (1-20) for each of nInUse + 2 symbols,
 *   then canonical Huffman codes (ordered by length, then symbol), 50 symbols per selector.
 *   Symbols: RUNA/RUNB (0, 1) write a run of the front MTF byte in bijective base 2, 2..nInUse move
 *   MTF index sym-1 to the front, nInUse + 1 ends the block. At most level * 100000 bytes (the BWT block).
 * - The inverse Burrows-Wheeler transform starts at origPtr; its output is run-length coded once more
 *   (RLE1): after 4 equal bytes, the next byte is a count (0-255) of further copies. So one block can
 *   expand to about 900000 / 5 * 259 = 46.6 MB; the output is emitted incrementally, never whole.
 * - CRC-32 of the block's output (polynomial 0x04c11db7, MSB first, ~ at the end); the stream CRC is
 *   `rotl(crc, 1) ^ blockCrc` over its blocks.
 * - Like Python's `bz2.decompress` (kombu's decompressor): concatenated streams decode one after the
 *   other, and bytes after a complete stream that do not start another one are ignored (Python ignores
 *   any later stream that fails; this refuses one whose header is valid). Unlike it, an empty body is
 *   refused (Python returns b''), as every other scheme here refuses one.
 *   Randomised blocks (written only by bzip2 before 0.9.5, 1999) are refused.
 *
 * Memory: one Uint32Array of level * 100000 entries (3.6 MB at level 9) plus a 64 KB output chunk.
 * Pure: no I/O.
 */
import type { StepDecoder } from './decompressors.ts';

/** Output per step (a view into one reused buffer). */
const CHUNK = 64 << 10;
/** Symbols decoded, BWT entries linked or output positions walked per step (a millisecond or so). */
const STEP_WORK = 1 << 16;
/** What a stream header and a block header (selectors, tables) count for against {@link STEP_WORK}. */
const STREAM_WORK = 64;
const BLOCK_WORK = 1024;
/** libbzip2's BZ_MAX_SELECTORS: selectors past it are read and dropped. */
const MAX_SELECTORS = 18002;
const MAX_CODE_LEN = 20;
const MAX_ALPHA = 258;
const GROUP_SIZE = 50;
/** Codes up to this long are decoded by one table look-up. */
const LUT_BITS = 10;

/** CRC-32 tables, MSB first: CRC[0] by one byte, CRC[k] the same byte followed by k zero bytes (4 bytes a step). */
const CRC = (() => {
  const t = [0, 1, 2, 3].map(() => new Int32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[0]![i] = c;
  }
  for (let k = 1; k < 4; k++) for (let i = 0; i < 256; i++) t[k]![i] = (t[k - 1]![i]! << 8) ^ t[0]![t[k - 1]![i]! >>> 24]!;
  return t as [Int32Array, Int32Array, Int32Array, Int32Array];
})();

function crc32(crc: number, b: Uint8Array, n: number): number {
  const [t0, t1, t2, t3] = CRC;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    crc ^= (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
    crc = t3[crc >>> 24]! ^ t2[(crc >>> 16) & 0xff]! ^ t1[(crc >>> 8) & 0xff]! ^ t0[crc & 0xff]!;
  }
  for (; i < n; i++) crc = (crc << 8) ^ t0[((crc >>> 24) ^ b[i]!) & 0xff]!;
  return crc;
}

/** 'BZh' and a level digit (null), then the first block's magic (pi) or, for an empty stream, the end's (sqrt pi). */
const STREAM_MAGIC = [0x42, 0x5a, 0x68, null];
const BLOCK_MAGIC = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const EOS_MAGIC = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

const enum Phase { Stream, Block, Symbols, Link, Output, Done }

function truncated(): Error {
  return new Error('bzip2: truncated input (the stream does not end)');
}

function corrupt(what: string): Error {
  return new Error(`bzip2: corrupt data (${what})`);
}

/** Decodes `input` (one or more bzip2 streams) step by step. */
export function bzip2Decoder(input: Uint8Array): StepDecoder {
  return new Bzip2Decoder(input);
}

class Bzip2Decoder implements StepDecoder {
  readonly #in: Uint8Array;
  // bit reader: bits not yet consumed are the low #count bits of #buf
  #pos = 0;
  #buf = 0;
  #count = 0;

  #phase = Phase.Stream;
  #streams = 0;
  #blockMax = 0;
  #streamCrc = 0;
  #tt: Uint32Array = new Uint32Array(0);
  readonly #chunk = new Uint8Array(CHUNK);

  // block header and tables
  #blockCrc = 0;
  #origPtr = 0;
  #nInUse = 0;
  #nSelectors = 0;
  readonly #selectors = new Uint8Array(MAX_SELECTORS);
  readonly #limit = new Int32Array(6 * (MAX_CODE_LEN + 1)); // first code past each length, per group
  readonly #delta = new Int32Array(6 * (MAX_CODE_LEN + 1)); // first code minus first index, per length
  readonly #perm = new Uint16Array(6 * MAX_ALPHA); // symbols by (length, symbol), per group
  readonly #lut = new Int32Array(6 << LUT_BITS); // per group, by the next LUT_BITS bits: symbol << 5 | length, 0 if longer
  readonly #maxLen = new Uint8Array(6);

  // symbols
  readonly #mtf = new Uint8Array(256);
  readonly #counts = new Int32Array(256);
  #group = -1;
  #groupLeft = 0;
  #run = 0;
  #runWeight = 1;
  #nblock = 0;

  // link (inverse BWT) and output (RLE1)
  readonly #cftab = new Int32Array(256);
  #linked = 0;
  #tPos = 0;
  #left = 0;
  #prev = -1;
  #same = 0;
  #copies = 0;
  #crc = 0;

  constructor(input: Uint8Array) {
    this.#in = input;
  }

  next(): Uint8Array | null {
    try {
      return this.#step();
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  #step(): Uint8Array | null {
    let work = STEP_WORK;
    for (;;) {
      switch (this.#phase) {
        case Phase.Stream:
          if (work <= 0) return this.#chunk.subarray(0, 0); // thousands of empty streams: a step each so many
          work -= STREAM_WORK;
          if (!this.#streamHeader()) {
            this.#phase = Phase.Done;
            return null;
          }
          this.#phase = Phase.Block;
          break;
        case Phase.Block:
          if (work <= 0) return this.#chunk.subarray(0, 0);
          work -= BLOCK_WORK;
          this.#phase = this.#blockHeader() ? Phase.Symbols : Phase.Stream;
          break;
        case Phase.Symbols:
          work = this.#symbols(work);
          if (work < 0) return this.#chunk.subarray(0, 0);
          this.#phase = Phase.Link;
          break;
        case Phase.Link:
          work = this.#link(work);
          if (work < 0) return this.#chunk.subarray(0, 0);
          this.#phase = Phase.Output;
          break;
        case Phase.Output: {
          const n = this.#output(work);
          if (this.#left === 0 && this.#copies === 0) this.#blockEnd();
          return this.#chunk.subarray(0, n);
        }
        default:
          return null;
      }
    }
  }

  dispose(): void {
    this.#phase = Phase.Done;
    this.#tt = new Uint32Array(0);
  }

  // ------------------------------------------------------------------------------------------
  // bits

  #refill(): void {
    while (this.#count <= 24) {
      this.#buf = (this.#buf << 8) | (this.#in[this.#pos] ?? 0); // past the end: zeros, caught by #checkEnd
      this.#pos++;
      this.#count += 8;
    }
  }

  /** n <= 24 bits. */
  #bits(n: number): number {
    if (this.#count < n) this.#refill();
    this.#count -= n;
    return (this.#buf >>> this.#count) & ((1 << n) - 1);
  }

  #checkEnd(): void {
    if (this.#pos > this.#in.length && this.#pos * 8 - this.#count > this.#in.length * 8) throw truncated();
  }

  // ------------------------------------------------------------------------------------------
  // stream and block headers

  /** At a byte boundary: starts the next stream, or says there is none (end of input, or trailing bytes Python ignores). */
  #streamHeader(): boolean {
    this.#count -= this.#count & 7; // padding after the previous stream's CRC
    this.#pos -= this.#count >> 3;
    this.#buf = 0;
    this.#count = 0;
    const b = this.#in;
    const p = this.#pos;
    if (p >= b.length) {
      if (this.#streams > 0) return false;
      throw new Error('not a bzip2 stream (empty body)');
    }
    // 'B' 'Z' 'h' level, then the first block's or the end-of-stream magic; bytes past the end match
    // (a cut header is truncated input, as Python says, not foreign bytes)
    const ok = (i: number, v: number | null) => p + i >= b.length || (v === null ? b[p + i]! >= 0x31 && b[p + i]! <= 0x39 : b[p + i] === v);
    const valid = STREAM_MAGIC.every((v, i) => ok(i, v)) && (BLOCK_MAGIC.every((v, i) => ok(4 + i, v)) || EOS_MAGIC.every((v, i) => ok(4 + i, v)));
    if (!valid) {
      if (this.#streams > 0) return false;
      throw new Error('not a bzip2 stream (bad magic number)');
    }
    if (p + 10 > b.length) throw truncated();
    this.#blockMax = (b[p + 3]! - 0x30) * 100000;
    if (this.#tt.length < this.#blockMax) this.#tt = new Uint32Array(this.#blockMax);
    this.#pos = p + 4;
    this.#streams++;
    this.#streamCrc = 0;
    return true;
  }

  /** Reads a block header and its tables (true), or the end of the stream and its CRC (false). */
  #blockHeader(): boolean {
    const m1 = this.#bits(24);
    const m2 = this.#bits(24);
    const crc = ((this.#bits(16) << 16) | this.#bits(16)) >>> 0;
    this.#checkEnd();
    if (m1 === 0x177245 && m2 === 0x385090) {
      if (crc !== this.#streamCrc) throw new Error(`bzip2: stream CRC mismatch (data is corrupt): stored ${hex(crc)}, computed ${hex(this.#streamCrc)}`);
      return false;
    }
    if (m1 !== 0x314159 || m2 !== 0x265359) throw corrupt('bad block magic');
    this.#blockCrc = crc;
    if (this.#bits(1)) throw new Error('bzip2: randomised blocks (written by bzip2 before 0.9.5) are not supported');
    this.#origPtr = this.#bits(24);

    // symbol map: which byte values occur, in order; they start the MTF list
    const used = this.#bits(16);
    let nInUse = 0;
    for (let i = 0; i < 16; i++) {
      if (!(used & (0x8000 >> i))) continue;
      const sub = this.#bits(16);
      for (let j = 0; j < 16; j++) if (sub & (0x8000 >> j)) this.#mtf[nInUse++] = i * 16 + j;
    }
    if (nInUse === 0) throw corrupt('no symbols in use');
    this.#nInUse = nInUse;
    const alphaSize = nInUse + 2;

    const nGroups = this.#bits(3);
    if (nGroups < 2 || nGroups > 6) throw corrupt(`${nGroups} Huffman tables`);
    const nSelectors = this.#bits(15);
    if (nSelectors < 1) throw corrupt('no selectors');
    const order = [0, 1, 2, 3, 4, 5];
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (this.#bits(1)) if (++j >= nGroups) throw corrupt('selector out of range');
      if (i >= MAX_SELECTORS) continue;
      const g = order[j]!;
      for (; j > 0; j--) order[j] = order[j - 1]!;
      order[0] = g;
      this.#selectors[i] = g;
    }
    this.#nSelectors = Math.min(nSelectors, MAX_SELECTORS);

    const lens = new Uint8Array(MAX_ALPHA);
    for (let g = 0; g < nGroups; g++) {
      let len = this.#bits(5);
      for (let s = 0; s < alphaSize; s++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) throw corrupt('code length out of range');
          if (!this.#bits(1)) break;
          len += this.#bits(1) ? -1 : 1;
        }
        lens[s] = len;
      }
      this.#table(g, lens, alphaSize);
    }
    this.#checkEnd();

    this.#counts.fill(0);
    this.#group = -1;
    this.#groupLeft = 0;
    this.#run = 0;
    this.#runWeight = 1;
    this.#nblock = 0;
    return true;
  }

  /** Canonical Huffman decoding table of group g: codes assigned by increasing (length, symbol). */
  #table(g: number, lens: Uint8Array, alphaSize: number): void {
    let min = MAX_CODE_LEN, max = 0;
    for (let s = 0; s < alphaSize; s++) {
      min = Math.min(min, lens[s]!);
      max = Math.max(max, lens[s]!);
    }
    this.#maxLen[g] = max;
    const t = g * (MAX_CODE_LEN + 1);
    let code = 0, index = 0;
    for (let len = 1; len <= MAX_CODE_LEN; len++) {
      const start = index;
      for (let s = 0; s < alphaSize; s++) if (lens[s] === len) this.#perm[g * MAX_ALPHA + index++] = s;
      this.#delta[t + len] = code - start;
      code += index - start;
      this.#limit[t + len] = code;
      code <<= 1;
    }
    // the same decision as the search by length, for every LUT_BITS-bit prefix
    for (let e = 0; e < 1 << LUT_BITS; e++) {
      let v = 0;
      for (let len = min; len <= Math.min(max, LUT_BITS); len++) {
        const c = e >>> (LUT_BITS - len);
        if (c < this.#limit[t + len]!) {
          v = (this.#perm[g * MAX_ALPHA + c - this.#delta[t + len]!]! << 5) | len;
          break;
        }
      }
      this.#lut[(g << LUT_BITS) + e] = v;
    }
  }

  // ------------------------------------------------------------------------------------------
  // symbols: Huffman, RUNA/RUNB, MTF -> the block's bytes in #tt (low 8 bits)

  /** Decodes up to `work` symbols; returns the work left once the end-of-block symbol is read, else -1. */
  #symbols(work: number): number {
    const tt = this.#tt, mtf = this.#mtf, counts = this.#counts, input = this.#in;
    const limit = this.#limit, delta = this.#delta, perm = this.#perm, lut = this.#lut;
    const eob = this.#nInUse + 1;
    const max = this.#blockMax;
    let nblock = this.#nblock, run = this.#run, runWeight = this.#runWeight;
    let buf = this.#buf, count = this.#count, pos = this.#pos;
    let group = this.#group, groupLeft = this.#groupLeft;
    let g = group >= 0 ? this.#selectors[group]! : 0;
    const save = () => {
      this.#nblock = nblock;
      this.#run = run;
      this.#runWeight = runWeight;
      this.#buf = buf;
      this.#count = count;
      this.#pos = pos;
      this.#group = group;
      this.#groupLeft = groupLeft;
    };
    try {
      while (work-- > 0) {
        if (groupLeft === 0) {
          if (++group >= this.#nSelectors) throw corrupt('more symbols than selectors');
          groupLeft = GROUP_SIZE;
          g = this.#selectors[group]!;
        }
        groupLeft--;
        while (count <= 24) {
          buf = (buf << 8) | (input[pos++] ?? 0); // past the end: zeros, caught below
          count += 8;
        }
        const peek = (buf >>> (count - MAX_CODE_LEN)) & 0xfffff;
        let sym: number;
        const e = lut[(g << LUT_BITS) + (peek >>> (MAX_CODE_LEN - LUT_BITS))]!;
        if (e !== 0) {
          sym = e >>> 5;
          count -= e & 31;
        } else {
          sym = -1;
          const t = g * (MAX_CODE_LEN + 1);
          for (let len = LUT_BITS + 1, maxLen = this.#maxLen[g]!; len <= maxLen; len++) {
            const c = peek >>> (MAX_CODE_LEN - len);
            if (c < limit[t + len]!) {
              sym = perm[g * MAX_ALPHA + c - delta[t + len]!]!;
              count -= len;
              break;
            }
          }
          if (sym < 0) throw corrupt('bad Huffman code');
        }
        if (pos > input.length && pos * 8 - count > input.length * 8) throw truncated();

        if (sym <= 1) { // RUNA, RUNB: a digit (1 or 2 times the weight) of a run of the front byte
          run += (sym + 1) * runWeight;
          runWeight *= 2;
          if (nblock + run > max) throw corrupt('run past the block size');
          continue;
        }
        if (run > 0) {
          const b = mtf[0]!;
          tt.fill(b, nblock, nblock + run);
          counts[b]! += run;
          nblock += run;
          run = 0;
          runWeight = 1;
        }
        if (sym === eob) {
          if (this.#origPtr >= nblock) throw corrupt('origPtr past the block');
          return work;
        }
        // MTF index sym - 1 to the front
        const i = sym - 1;
        const b = mtf[i]!;
        if (i < 32) for (let k = i; k > 0; k--) mtf[k] = mtf[k - 1]!;
        else mtf.copyWithin(1, 0, i);
        mtf[0] = b;
        if (nblock >= max) throw corrupt('block larger than its level');
        tt[nblock++] = b;
        counts[b]!++;
      }
      return -1;
    } finally {
      save();
    }
  }

  // ------------------------------------------------------------------------------------------
  // inverse BWT: tt[i] gets, above its byte, the position that follows it

  /** Links up to `work` entries; returns the work left once all are linked, else -1. */
  #link(work: number): number {
    const tt = this.#tt, cftab = this.#cftab, n = this.#nblock;
    if (this.#linked === 0) {
      let sum = 0;
      for (let b = 0; b < 256; b++) {
        cftab[b] = sum;
        sum += this.#counts[b]!;
      }
    }
    const start = this.#linked;
    let i = start;
    const end = Math.min(n, i + work);
    for (; i < end; i++) {
      const b = tt[i]! & 0xff;
      tt[cftab[b]!]! |= i << 8;
      cftab[b]!++;
    }
    this.#linked = i;
    if (i < n) return -1;
    this.#linked = 0;
    this.#tPos = tt[this.#origPtr]! >>> 8;
    this.#left = n;
    this.#prev = -1;
    this.#same = 0;
    this.#copies = 0;
    this.#crc = 0xffffffff;
    return work - (end - start);
  }

  // ------------------------------------------------------------------------------------------
  // output: walk the links, undo RLE1, into the chunk

  #output(work: number): number {
    const tt = this.#tt, out = this.#chunk;
    let o = 0, tPos = this.#tPos, left = this.#left, prev = this.#prev, same = this.#same, copies = this.#copies;
    while (o < CHUNK) {
      if (copies > 0) {
        const n = Math.min(copies, CHUNK - o);
        out.fill(prev, o, o + n);
        o += n;
        copies -= n;
        continue;
      }
      if (left === 0 || work-- <= 0) break;
      const e = tt[tPos]!;
      const b = e & 0xff;
      tPos = e >>> 8;
      left--;
      if (same === 4) { // the count after four equal bytes
        copies = b;
        same = 0;
        continue;
      }
      if (b === prev) same++;
      else {
        prev = b;
        same = 1;
      }
      out[o++] = b;
    }
    this.#tPos = tPos;
    this.#left = left;
    this.#prev = prev;
    this.#same = same;
    this.#copies = copies;
    this.#crc = crc32(this.#crc, out, o);
    return o;
  }

  #blockEnd(): void {
    const crc = ~this.#crc >>> 0;
    if (crc !== this.#blockCrc) {
      throw new Error(`bzip2: block CRC mismatch (data is corrupt): stored ${hex(this.#blockCrc)}, computed ${hex(crc)}`);
    }
    this.#streamCrc = (((this.#streamCrc << 1) | (this.#streamCrc >>> 31)) ^ crc) >>> 0;
    this.#phase = Phase.Block;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
