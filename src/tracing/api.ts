/**
 * The part of `@opentelemetry/api` tracing uses, as structural types of our own, and its lazy loader.
 *
 * `@opentelemetry/api` is an optional peer dependency: nothing imports it statically (not even its
 * types, so celeriac's declarations type-check in projects without it). It is required once, when a
 * {@link CeleriacInstrumentation} is enabled, through `createRequire` (Node resolves it to the
 * package's CommonJS build whether the user imports or requires it; the API keeps its registered
 * providers on `globalThis`, so every copy of the API in the process sees the same ones).
 */
import { createRequire } from 'node:module';
import { ConfigurationError } from '../errors.ts';

export type AttributeValue = string | number | boolean | string[] | number[] | boolean[];
export type Attributes = Record<string, AttributeValue>;

/** `Context` (immutable; a span is one of its values). */
export interface OtelContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): OtelContext;
  deleteValue(key: symbol): OtelContext;
}

export interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
}

export interface OtelSpan {
  spanContext(): OtelSpanContext;
  setAttribute(key: string, value: AttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: Error | string): void;
  isRecording(): boolean;
  end(): void;
}

export interface OtelSpanOptions {
  kind?: number;
  attributes?: Attributes;
  links?: { context: OtelSpanContext }[];
}

export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

/** What a tracer provider must offer (the SDK's, or the API's global proxy). */
export interface TracerProviderLike {
  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): object;
}

/** What a meter provider must offer (the SDK's, or the API's global one). */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: { schemaUrl?: string }): object;
}

export interface OtelMeter {
  createHistogram(name: string, options?: { description?: string; unit?: string }): OtelHistogram;
}

export interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}

export interface TextMapGetter<C> {
  keys(carrier: C): string[];
  get(carrier: C, key: string): undefined | string | string[];
}

export interface TextMapSetter<C> {
  set(carrier: C, key: string, value: string): void;
}

/** The `@opentelemetry/api` module, as far as tracing uses it. */
export interface OtelApi {
  context: {
    active(): OtelContext;
    with<T>(ctx: OtelContext, fn: () => T): T;
  };
  trace: {
    getTracerProvider(): TracerProviderLike;
    setSpan(ctx: OtelContext, span: OtelSpan): OtelContext;
    getSpan(ctx: OtelContext): OtelSpan | undefined;
    getSpanContext(ctx: OtelContext): OtelSpanContext | undefined;
    isSpanContextValid(sc: OtelSpanContext): boolean;
  };
  metrics: {
    getMeterProvider(): MeterProviderLike;
  };
  propagation: {
    inject<C>(ctx: OtelContext, carrier: C, setter?: TextMapSetter<C>): void;
    extract<C>(ctx: OtelContext, carrier: C, getter?: TextMapGetter<C>): OtelContext;
  };
  SpanKind: { PRODUCER: number; CONSUMER: number };
  SpanStatusCode: { ERROR: number };
  ROOT_CONTEXT: OtelContext;
}

/** How the module is required (a parameter for the tests of a missing package). */
export type RequireFn = (id: string) => unknown;

/**
 * `@opentelemetry/api`, required now: a {@link ConfigurationError} with the install command when it is
 * not installed (or too old to have what tracing uses).
 */
export function loadOpenTelemetryApi(req: RequireFn = createRequire(import.meta.url)): OtelApi {
  let api: Partial<OtelApi>;
  try {
    api = req('@opentelemetry/api') as Partial<OtelApi>;
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new ConfigurationError('tracing needs @opentelemetry/api, which is not installed: npm install @opentelemetry/api', { cause: err });
    }
    throw err;
  }
  if (!api.trace?.getSpanContext || !api.propagation?.extract || !api.context?.with || !api.metrics?.getMeterProvider || !api.SpanKind || !api.ROOT_CONTEXT) {
    throw new ConfigurationError('tracing needs @opentelemetry/api 1.4 or later: npm install @opentelemetry/api@1');
  }
  return api as OtelApi;
}
