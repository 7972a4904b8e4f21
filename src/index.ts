/**
 * celeriac: Celery's wire protocol in TypeScript. The protocol layer (also at `celeriac/protocol`),
 * and the runtime built on it: app, producer, results, brokers, backends, worker.
 */
export * from '../protocol/index.ts';

// app, settings, routing and producer
export { Celery, createApp } from './app.ts';
export { kw } from './kwargs.ts';
export type { Kwargs } from './kwargs.ts';
export type { AppOptions, TaskOptions, TaskHandle, RegisteredTask } from './app.ts';
export { resolveConfig, DEFAULT_SETTINGS, SETTING_NAMES } from './config.ts';
export type { Settings, SettingsInput, RetryPolicy, RetryPolicyInput, TransportOptions, ResolveConfigOptions } from './config.ts';
export { createRouter } from './routing.ts';
export type {
  Router, RoutesSetting, RouteMap, RouterFunction, Route, RouteValue, RouteOptions, RouteResult, QueuesSetting, QueueSpec,
  ExchangeSpec, RoutedQueue,
} from './routing.ts';
export { runInTaskContext, currentTaskContext, anonNodename } from './producer.ts';
export type { SendTaskOptions, TaskContext } from './producer.ts';
export { ConfigurationError, QueueNotFoundError, OperationalError } from './errors.ts';

// results
export { AsyncResult, GroupResult, IncompleteStream, collect, iterdeps, resultFromTuple } from './result.ts';
export { Control, Inspect, flattenReply } from './control.ts';
export type { BroadcastOptions, ControlSettings, InspectOptions, NodeReplies, TaskInfo, Replies, RevokeOptions, AddConsumerOptions, TimeLimitOptions, PoolRestartOptions, PingOptions } from './control.ts';
export type { GetOptions, AsyncResultOptions, RevokeControl } from './result.ts';
export { ResultTimeoutError, NoResultBackendError, BackendStoreError } from './backend.ts';
export type { ResultBackend, WaitOptions } from './backend.ts';
export { createBackend } from './backends/index.ts';

// brokers
export { createBroker } from './brokers/index.ts';
export type { Broker, Delivery, Consumer, QueueDeclaration, ExchangeDeclaration, PublishTarget } from './broker.ts';
export { BrokerError, BrokerConnectionError, UnroutableError, InvalidMessageError } from './brokers/errors.ts';
export { InvalidAmqpMessageError } from './brokers/amqp/consumer.ts';
// the quarantine of refused messages (<queue>.celeriac.invalid) and message signing's refusals
export { QUARANTINE_KINDS, QUARANTINE_HEADERS, quarantineQueueName, decodeQuarantineElement, decodeQuarantineHeaders } from '../protocol/quarantine.ts';
export type { QuarantineKind, QuarantineReason, QuarantinedMessage } from '../protocol/quarantine.ts';
export type { QuarantineStore, QuarantineSelection, QuarantinedDetail, QuarantineBounds } from './quarantine/store.ts';
export { SecurityError } from '../protocol/security/index.ts';
export { State as EventsState, WorkerState, TaskState, heartbeatExpires } from './events/state.ts'; // celery.events.state
export type { StateOptions as EventsStateOptions, StateEventResult } from './events/state.ts';

// worker and signals
export * from './worker/index.ts';
export { signals, Signal } from './signals.ts';

// tracing: OpenTelemetry spans and W3C trace context in task messages (needs @opentelemetry/api, loaded only when enabled)
export { CeleriacInstrumentation } from './tracing/instrumentation.ts';
export type { CeleriacInstrumentationConfig } from './tracing/instrumentation.ts';
export type { TracerProviderLike, MeterProviderLike } from './tracing/api.ts';

// beat
export { schedule, crontab, solar, clocked, rrule, scheduleFromJSON, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule, RRuleSchedule, CronParseError, SOLAR_EVENTS } from './beat/schedules/index.ts';
export type { Schedule, ScheduleContext, ScheduleJSON, ScheduleState, CronSpec } from './beat/schedules/index.ts';
export { createBeat, appTimezone } from './beat/beat.ts';
export type { Beat, BeatHost, BeatOptions } from './beat/beat.ts';
export { BeatService } from './beat/service.ts';
export { Scheduler } from './beat/scheduler.ts';
export type { BeatPublisher, BeatClock } from './beat/scheduler.ts';
export type { BeatStore, Entry, EntryDefinition, EntryMeta, Claim } from './beat/store.ts';
export { slotTaskId } from './beat/slot.ts';
