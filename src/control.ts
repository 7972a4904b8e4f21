/**
 * Remote control, the client side (Celery's `app.control`): the code is in src/control/ (mailbox,
 * inspect, control); this module keeps the import path `./control.ts` of the app and the index.
 */
export { Control, type Replies, type RevokeOptions, type AddConsumerOptions, type TimeLimitOptions, type PoolRestartOptions, type PingOptions } from './control/control.ts';
export { Inspect, flattenReply, type InspectOptions, type NodeReplies, type TaskInfo } from './control/inspect.ts';
export type { BroadcastOptions, ControlSettings, Clock } from './control/mailbox.ts';
