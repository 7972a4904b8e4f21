/**
 * What the chaos suite asserts, and nothing timed: the invariants a row must hold.
 *
 * - `bound` 0 (acks_late, broker restarts, SIGSTOP, the storm's valid messages): nothing lost.
 * - `bound` c (kill -9 with early ack): at most c lost. Early ack acks a message when its task starts,
 *   and a worker runs at most `concurrency` tasks at once, so only those it was running when killed
 *   can be acked and unfinished; every prefetched message not yet started is still unacked and comes
 *   back (AMQP when the connection drops, Redis by the visibility restore).
 * - Always: nothing left in the queue or unacked once every worker stopped, and the scenario settled.
 */
import type { Row } from './counts.ts';

export function violations(r: Row, bound?: number): string[] {
  const out: string[] = [];
  const what = `${r.scenario} ${r.broker} ${r.impl}`;
  if (bound !== undefined && r.lost > bound) out.push(`${what}: lost ${r.lost} (bound ${bound})`);
  if (r.left !== 0) out.push(`${what}: ${r.left} left in the queue or unacked`);
  if (r.extra.settled === 'no') out.push(`${what}: did not settle`);
  if (r.extra.unaccounted !== undefined && r.extra.unaccounted !== 0) out.push(`${what}: ${r.extra.unaccounted} hostile messages unaccounted for`);
  return out;
}
