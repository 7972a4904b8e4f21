/**
 * One `LPUSH key v1 ... vn`, written as RESP bytes value by value as the publishes come, into one Buffer
 * (see RedisBroker.pushBatched). Given the values as strings, ioredis would measure each one
 * (`Buffer.byteLength`), concatenate them all into one string and encode that again to write it; here
 * each envelope is copied once, and no envelope string outlives its publish call.
 */
import { Command } from 'ioredis';

/** Node's one-byte writer (not in @types/node): `write(s, at, 'latin1')` without the argument checks. */
type LatinBuffer = Buffer & { latin1Write(s: string, offset: number): number };

const CR = 0x0d;
const LF = 0x0a;
const DOLLAR = 0x24;
const MIN_CAPACITY = 1 << 16;
/** Batches start with at most this much room, and no bigger buffer is kept for reuse. */
const MAX_KEPT = 1 << 22;

/**
 * A command that publishes a message (LPUSH, PUBLISH). The broker sends it only while connected, and
 * takes it out of ioredis's resend queue when the connection closes before Redis answered (see
 * RedisBroker.dropUnansweredPublishes): a publish reported as failed is never sent again by ioredis.
 */
export class PublishCommand extends Command {}

/** A command whose RESP bytes are ready: ioredis writes them as they are. */
class WrittenCommand extends PublishCommand {
  readonly #resp: Buffer;
  constructor(name: string, args: string[], resp: Buffer) {
    super(name, args);
    this.#resp = resp;
  }
  override toWritable(): Buffer {
    return this.#resp;
  }
}

/** A buffer of a batch whose LPUSH was answered (all its bytes were sent), for the next batch. */
let spare: LatinBuffer | null = null;
/** The size of the last batch: the next one starts with room for as much. */
let lastSize = MIN_CAPACITY;

export class PushBatch {
  readonly key: string;
  count = 0;
  /** Settles with the reply of the LPUSH; shared by every publish of the batch. */
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #buf: LatinBuffer;
  /** Room kept in front of the values for the command's header. */
  readonly #head: number;
  #end: number;

  constructor(key: string) {
    this.key = key;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // "*<count>\r\n$5\r\nlpush\r\n$<key length>\r\n<key>\r\n"
    this.#head = 40 + Buffer.byteLength(key);
    const size = Math.max(lastSize, 2 * this.#head);
    if (spare !== null && spare.length >= size) {
      this.#buf = spare;
      spare = null;
    } else {
      this.#buf = Buffer.allocUnsafe(size) as LatinBuffer;
    }
    this.#end = this.#head;
  }

  /** Appends a value that is ASCII text (one byte per character, as every Redis envelope is). */
  add(ascii: string): void {
    const n = ascii.length;
    if (this.#end + n + 16 > this.#buf.length) this.#grow(n + 16);
    const buf = this.#buf;
    let at = this.#end;
    buf[at++] = DOLLAR;
    at += buf.latin1Write(`${n}`, at);
    buf[at++] = CR;
    buf[at++] = LF;
    at += buf.latin1Write(ascii, at);
    buf[at++] = CR;
    buf[at++] = LF;
    this.#end = at;
    this.count++;
  }

  #grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#end + need)) as LatinBuffer;
    this.#buf.copy(next, 0, 0, this.#end);
    this.#buf = next;
  }

  /** The LPUSH command (ioredis resolves it with the list's new length). */
  command(): PublishCommand {
    const head = `*${this.count + 2}\r\n$5\r\nlpush\r\n$${Buffer.byteLength(this.key)}\r\n${this.key}\r\n`;
    const start = this.#head - Buffer.byteLength(head);
    this.#buf.write(head, start, 'utf8');
    lastSize = Math.min(Math.max(MIN_CAPACITY, this.#end), MAX_KEPT);
    return new WrittenCommand('lpush', [this.key], this.#buf.subarray(start, this.#end));
  }

  /** Settles {@link done} with `reply`; once answered, the buffer is free for another batch. */
  settle(reply: Promise<unknown>): void {
    reply.then(
      () => {
        // Redis answered: it has read every byte, so none is still waiting to be written
        const buf = this.#buf;
        if (buf.length <= MAX_KEPT && (spare === null || spare.length < buf.length)) spare = buf;
        this.#resolve();
      },
      (err: unknown) => this.#reject(err),
    );
  }
}
