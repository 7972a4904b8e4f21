/**
 * How beat sends a claimed slot: through the app's `send_task` (so `task_routes`, the default queue and
 * exchange, the publish retry policy and AMQP publisher confirms apply, as for Celery's beat), with the
 * entry's options, the slot's task id, and the header `periodic_task_name` that django-celery-beat sets.
 */
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { BeatPublisher } from './scheduler.ts';
import type { Claim } from './store.ts';

/** The app's `sendTask`, or anything shaped like it. */
export type SendTask = (name: string, args: readonly PyValue[], kwargs: PyDict, options: Record<string, unknown>) => Promise<unknown>;

/** The send options of a claimed slot: the entry's, plus its task id and `periodic_task_name`. */
export function slotSendOptions(claim: Claim): Record<string, unknown> {
  const { headers, task_id: _a, taskId: _b, ...rest } = claim.options as Record<string, unknown>;
  return {
    ...rest,
    headers: { ...(headers as PyDict | undefined), periodic_task_name: claim.name },
    task_id: claim.taskId,
  };
}

export function beatPublisher(sendTask: SendTask): BeatPublisher {
  return {
    publish: async (claim) => {
      await sendTask(claim.task, claim.args, claim.kwargs as PyDict, slotSendOptions(claim));
    },
  };
}
