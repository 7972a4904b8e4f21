/**
 * Coalesced acks for one consumer channel.
 *
 * amqplib writes every `channel.ack()` as its own frame and, through its Mux, its own socket write, and
 * RabbitMQ handles each frame on its own. Acks requested in the same tick are therefore kept until
 * `process.nextTick` and then sent as ONE `basic.ack(multiple=true)` where the protocol allows it: a
 * multiple ack settles every outstanding delivery of the channel up to its tag, so it may only cover tags
 * below the lowest delivery nobody has settled yet (an ETA-held or acks_late message can stay unacked for
 * hours and must not be acked by someone else's multiple ack). Acks of tags above that delivery go out one
 * by one, in the same flush. The multiple ack always names a tag acked in this flush (still outstanding on
 * the broker), so RabbitMQ never sees an unknown delivery tag.
 *
 * Why nextTick and not setImmediate: amqplib hands a socket read's frames to the consumer in one callback
 * and the worker acks in that callback's microtasks, so nextTick (run once those are drained) already
 * sees them together. setImmediate coalesced more (~4.5 vs ~2.7 acks per frame in bench/profile-drain-amqp.ts)
 * but the frame then reached the socket an event-loop turn later (amqplib's Mux writes on its own
 * setImmediate): about +20% worker CPU per message and -10% drain rate.
 *
 * Rejects are not delayed: pending acks are flushed first, then the reject is written, so frames leave
 * in the order they were asked for. Delivery tags are per channel and increase with each delivery (the
 * AMQP 0-9-1 `basic.deliver` delivery-tag), so the insertion order of {@link unsettled} is tag order and
 * its first entry is the lowest.
 *
 * A promise of `ack()` resolves once its frame is handed to amqplib (as `channel.ack()` did before), and
 * rejects with the consumer's {@link BrokerConnectionError} when the channel closed before the flush
 * (RabbitMQ requeues such a delivery).
 */
import type { Channel, Message } from 'amqplib';

/** One ack waiting for the flush; `fail` builds the error when it cannot be sent. */
export interface PendingAck {
  readonly tag: number;
  resolve(): void;
  fail(err: unknown): void;
}

export class ChannelAcks {
  /** Delivered tags nobody has asked to ack or reject yet, in delivery (= tag) order. */
  private readonly unsettled = new Set<number>();
  private pending: PendingAck[] = [];
  private scheduled = false;
  private readonly flushNow = () => {
    this.scheduled = false;
    this.flush();
  };

  /** `live()` is false once the consumer dropped this channel: pending acks then fail instead. */
  constructor(readonly channel: Channel, private readonly live: () => boolean) {}

  /** A delivery arrived on this channel. */
  track(tag: number): void {
    this.unsettled.add(tag);
  }

  /** Queue the ack of `tag` for this tick's flush. */
  ack(p: PendingAck): void {
    this.unsettled.delete(p.tag);
    this.pending.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** Flush pending acks, then write the reject of `tag` (throws what amqplib throws). */
  reject(tag: number, requeue: boolean): void {
    this.unsettled.delete(tag);
    this.flush();
    this.channel.reject(tagged(tag), requeue);
  }

  /** Write every pending ack now (before a cancel or close; also the nextTick callback). */
  flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (!this.live()) {
      for (const p of batch) p.fail(null);
      return;
    }
    let lowest = Infinity;
    for (const t of this.unsettled) {
      lowest = t;
      break;
    }
    // every tag below `lowest` is settled or in `batch`: the highest of those acks them all
    let upTo = -1;
    for (const p of batch) if (p.tag < lowest && p.tag > upTo) upTo = p.tag;
    if (upTo >= 0) {
      const covered = batch.filter((p) => p.tag <= upTo);
      this.send(covered, upTo, covered.length > 1);
    }
    for (const p of batch) if (p.tag > lowest) this.send([p], p.tag, false);
  }

  private send(ps: PendingAck[], tag: number, multiple: boolean): void {
    try {
      this.channel.ack(tagged(tag), multiple);
    } catch (err) {
      for (const p of ps) p.fail(err);
      return;
    }
    for (const p of ps) p.resolve();
  }
}

/** amqplib's ack/reject read only `fields.deliveryTag`. */
function tagged(tag: number): Message {
  return { fields: { deliveryTag: tag } } as Message;
}
