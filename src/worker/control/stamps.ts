/**
 * `revoke_by_stamped_headers` at receipt (`celery/worker/request.py:Request.revoked`): a request is
 * revoked when one of its `stamped_headers` has a value listed in `worker_state.revoked_stamps`.
 */
import type { PyValue } from '../../../protocol/values.ts';
import type { Context } from '../request.ts';

export function isRevokedByStamps(ctx: Context, revokedStamps: ReadonlyMap<string, PyValue[]>): boolean {
  if (!revokedStamps.size || !ctx.stamped_headers) return false;
  for (const stamp of ctx.stamped_headers) {
    const revoked = revokedStamps.get(stamp);
    if (!revoked) continue;
    const value = ctx.stamps[stamp];
    const values = Array.isArray(value) ? value : [value];
    // Celery looks at the first stamped header that has revoked values only
    return values.some((v) => revoked.some((r) => JSON.stringify(r) === JSON.stringify(v)));
  }
  return false;
}
