/** The worker: runs tasks registered on an app, as a member of a Celery fleet. */
export { Worker, expandNodename } from './worker.ts';
export type { WorkerOptions, WorkerEvents } from './worker.ts';
export { Request, Context, customHeaders, parseWhen, toResultRequest } from './request.ts';
export type { RequestDeliveryInfo } from './request.ts';
export { BoundTask, resolveTask, setTaskHooks, taskHooks } from './task.ts';
export type { TaskHooks, TaskRuntime, RetryOptions, ErrorInfo } from './task.ts';
export { Tracer, callTask } from './trace.ts';
export type { TraceResult, TracerOptions } from './trace.ts';
export { TaskRetry, exponentialBackoff, retrySendOptions, retryTask, withAutoretry, excRepr } from './retry.ts';
export { applySignature, applyGroup, dispatchCallbacksAndChain, dispatchErrbacks, signatureSendOptions } from './dispatch.ts';
export { formatTraceback, exceptionLine } from './traceback.ts';
export { createLogger, parseLogLevel, silentLogger, LOG_LEVELS } from './log.ts';
export type { LogLevel, WorkerLogger } from './log.ts';
