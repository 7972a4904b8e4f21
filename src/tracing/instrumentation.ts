/**
 * {@link CeleriacInstrumentation}: OpenTelemetry tracing of task messages, the way Node users enable an
 * instrumentation (it has the shape of `@opentelemetry/instrumentation`'s `Instrumentation`, so
 * `registerInstrumentations({ instrumentations: [...] })` and `new NodeSDK({ instrumentations: [...] })`
 * take it), doing what Python's `CeleryInstrumentor().instrument()` does: `apply_async/<task>` spans
 * around publishes, W3C trace context in the message headers, `run/<task>` spans continuing it in the
 * worker, and its `flower.task.runtime.seconds` histogram. Traces cross Python and TypeScript workers
 * both ways.
 *
 * Nothing happens, and `@opentelemetry/api` is not loaded, until one is created (or enabled).
 */
import { SW_VER } from '../events/worker.ts';
import { loadOpenTelemetryApi, type MeterProviderLike, type OtelApi, type OtelMeter, type OtelTracer, type TracerProviderLike } from './api.ts';
import { SCHEMA_URL } from './attributes.ts';
import { setTracingHooks, tracingHooks } from './hooks.ts';
import { RUNTIME_METRIC, SpanHooks } from './spans.ts';

export interface CeleriacInstrumentationConfig {
  /** Enable at construction, as every OpenTelemetry JS instrumentation does. @default true */
  enabled?: boolean;
  /**
   * Start each `run/<task>` span as a root linked to the sender's span instead of as its child
   * (opentelemetry-instrumentation-celery's `use_span_links`). @default false
   */
  useSpanLinks?: boolean;
}

const DEFAULTS: Required<CeleriacInstrumentationConfig> = { enabled: true, useSpanLinks: false };

export class CeleriacInstrumentation {
  /** The tracer's name (the instrumentation scope of its spans). */
  readonly instrumentationName = 'celeriac';
  readonly instrumentationVersion = SW_VER;
  private config: Required<CeleriacInstrumentationConfig>;
  private tracerProvider: TracerProviderLike | null = null;
  private meterProvider: MeterProviderLike | null = null;
  private hooks: SpanHooks | null = null;
  private api: OtelApi | null = null;

  constructor(config: CeleriacInstrumentationConfig = {}) {
    this.config = { ...DEFAULTS, ...config };
    if (this.config.enabled) this.enable();
  }

  /**
   * Traces every task this process sends or runs from now on (replacing another instrumentation's
   * hooks). Throws a ConfigurationError when `@opentelemetry/api` is not installed.
   */
  enable(): void {
    const api = (this.api ??= loadOpenTelemetryApi());
    // the global provider is a proxy: a provider registered later (NodeSDK.start()) is used from then on
    const provider = this.tracerProvider ?? api.trace.getTracerProvider();
    const tracer = provider.getTracer(this.instrumentationName, this.instrumentationVersion, { schemaUrl: SCHEMA_URL }) as OtelTracer;
    // the global meter provider is no proxy: registerInstrumentations / NodeSDK pass theirs (setMeterProvider)
    const meter = (this.meterProvider ?? api.metrics.getMeterProvider()).getMeter(this.instrumentationName, this.instrumentationVersion, { schemaUrl: SCHEMA_URL }) as OtelMeter;
    const runtime = meter.createHistogram(RUNTIME_METRIC.name, { unit: RUNTIME_METRIC.unit, description: RUNTIME_METRIC.description });
    this.hooks = new SpanHooks(api, tracer, { useSpanLinks: this.config.useSpanLinks, runtime });
    setTracingHooks(this.hooks);
  }

  /** Stops tracing (if this instrumentation's hooks are the ones in force). */
  disable(): void {
    if (this.hooks && tracingHooks() === this.hooks) setTracingHooks(null);
    this.hooks = null;
  }

  isEnabled(): boolean {
    return this.hooks !== null && tracingHooks() === this.hooks;
  }

  /** Uses `provider` instead of the global one (Python's `instrument(tracer_provider=...)`). */
  setTracerProvider(provider: TracerProviderLike): void {
    this.tracerProvider = provider;
    if (this.hooks) this.enable();
  }

  /** Records `flower.task.runtime.seconds` with `provider` instead of the global one. */
  setMeterProvider(provider: MeterProviderLike): void {
    this.meterProvider = provider;
    if (this.hooks) this.enable();
  }

  setLoggerProvider(_provider: unknown): void {}

  setConfig(config: CeleriacInstrumentationConfig = {}): void {
    this.config = { ...DEFAULTS, ...config };
    if (this.hooks) this.enable();
  }

  getConfig(): CeleriacInstrumentationConfig {
    return { ...this.config };
  }
}
