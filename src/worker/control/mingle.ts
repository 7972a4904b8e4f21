/**
 * Mingle (`celery/worker/consumer/mingle.py`): at startup the worker asks its neighbours `hello` (with
 * its own revoked ids), waits one second for replies, and takes their logical clocks and revoked ids.
 * Skipped with `withoutMingle` (Celery's `--without-mingle`).
 */
import type { PyDict } from '../../../protocol/values.ts';
import { Mailbox } from '../../control/mailbox.ts';
import { headerClock } from './mailbox.ts';
import type { PanelState } from './state.ts';

export async function mingle(state: PanelState, timeout = 1): Promise<number> {
  const w = state.worker;
  w.logger.info('mingle: searching for neighbors');
  let replies: PyDict[];
  const mailbox = new Mailbox(async () => w.app.broker, () => w.app.conf, state.mailboxClock);
  try {
    // `app.control.inspect(timeout=1).hello(hostname, revoked)`: a mailbox of its own, closed after
    replies = (await mailbox.broadcast('hello', { from_node: w.hostname, revoked: w.revoked.toData() as unknown as PyDict }, { reply: true, timeout })) ?? [];
  } catch (err) {
    w.logger.error(`mingle: hello failed: ${(err as Error).message}`);
    return 0;
  } finally {
    await mailbox.close();
  }
  const byNode = new Map<string, unknown>();
  for (const r of replies) for (const [node, reply] of Object.entries(r)) if (node !== w.hostname) byNode.set(node, reply);
  const useful = [...byNode].filter(([, reply]) => reply);
  if (!byNode.size) {
    w.logger.info('mingle: all alone');
    return 0;
  }
  w.logger.info(`mingle: sync with ${useful.length} nodes`);
  for (const [node, reply] of useful) {
    w.logger.debug(`mingle: processing reply from ${node}`);
    try {
      const { clock, revoked } = reply as { clock?: unknown; revoked?: unknown };
      if (clock) state.clock.adjust(headerClock(clock));
      else state.clock.forward();
      if (revoked && typeof revoked === 'object') w.revoked.update(revoked as Record<string, unknown>);
    } catch (err) {
      w.logger.error(`mingle: sync with ${node} failed: ${(err as Error).message}`);
    }
  }
  w.logger.info('mingle: sync complete');
  return useful.length;
}
