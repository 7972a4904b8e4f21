// Tracing (src/tracing/): the spans, names, kinds, attributes and parent/child links of
// opentelemetry-instrumentation-celery, with OpenTelemetry's SDK (in-memory exporter) and W3C propagator,
// over the in-memory broker: producer → message headers → worker → what the task sends.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import { context, metrics, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context as OtelContext, type ContextManager, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createTaskMessage, encodeTaskMessage } from '../../protocol/index.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { Celery } from '../../src/app.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { CeleriacInstrumentation } from '../../src/index.ts';
import { loadOpenTelemetryApi } from '../../src/tracing/api.ts';
import { publishAttributes, runAttributes, setAttributesFromContext } from '../../src/tracing/attributes.ts';
import { tracingHooks } from '../../src/tracing/hooks.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { Context } from '../../src/worker/request.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { Worker } from '../../src/worker/worker.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** A context manager on AsyncLocalStorage (what NodeSDK registers), for the tests that want one. */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<OtelContext>();
  active(): OtelContext {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: OtelContext, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: OtelContext, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

function setup() {
  const broker = new MemBroker();
  const backend = new MemBackend();
  const app = new Celery({
    broker_url: 'redis://x', result_backend: 'redis://y', env: {}, task_default_queue: 'q',
    createBroker: () => broker, createBackend: () => backend,
  });
  return { app, broker, backend };
}

function raw(task: string, id: string, headers: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): RawMessage {
  return encodeTaskMessage(createTaskMessage({ task, id, args: [], headers: headers as never, replyTo: 'reply-oid', origin: 'gen1@sender', ...extra }), {
    deliveryInfo: { exchange: '', routing_key: 'q' },
  });
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const spans = () => exporter.getFinishedSpans();
const byName = (name: string): ReadableSpan => {
  const found = spans().filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span ${name} among ${spans().map((s) => s.name).join(', ')}`);
  return found[0]!;
};
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

before(() => {
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterEach(() => exporter.reset());

describe('attributes, as opentelemetry-instrumentation-celery sets them', () => {
  test('set_attributes_from_context: skips, renames, timelimit, retries, delivery_info as Python str()', () => {
    const values: Record<string, unknown> = {
      id: 'i1', correlation_id: 'i1', reply_to: 'oid', hostname: 'w@h', origin: 'gen1@s', retries: 0, eta: '', expires: null,
      timelimit: [10, null], delivery_info: { exchange: '', routing_key: 'q', priority: null, redelivered: false }, compression: 'application/x-gzip',
    };
    const out = {};
    setAttributesFromContext(out, (k) => values[k]);
    assert.deepEqual(out, {
      'celery.compression': 'application/x-gzip',
      'messaging.conversation_id': 'i1',
      'messaging.destination': 'q',
      'celery.delivery_info': "{'exchange': '', 'routing_key': 'q', 'priority': None, 'redelivered': False}",
      'celery.hostname': 'gen1@s', // origin comes after hostname in CELERY_CONTEXT_ATTRIBUTES
      'messaging.message.id': 'i1',
      'celery.reply_to': 'oid',
      'celery.timelimit': ['10', ''],
    });
    const more = {};
    setAttributesFromContext(more, (k) => ({ retries: 2, timelimit: [null, null], hostname: 'w@h', declare: [{ exchange: { type: 'topic' } }] } as Record<string, unknown>)[k]);
    assert.deepEqual(more, { 'messaging.destination_kind': 'topic', 'celery.hostname': 'w@h', 'celery.retries': 2 });
    const both = {};
    setAttributesFromContext(both, (k) => (k === 'timelimit' ? [30, 20] : k === 'declare' ? [{ exchange: { type: 'fanout' } }] : undefined));
    assert.deepEqual(both, { 'celery.timelimit': [30, 20] });
  });

  test('run attributes come from the request (Context) and the state', () => {
    const msg = createTaskMessage({ task: 't.a', id: 'r1', args: [], replyTo: 'oid', origin: 'gen7@box', retries: 3, timeLimit: 5, eta: '2026-01-01T00:00:00+00:00' });
    const ctx = new Context(msg, 'celery@worker', { exchange: 'ex', routing_key: 'rk', redelivered: true });
    assert.deepEqual(runAttributes(ctx, 'SUCCESS'), {
      'celery.action': 'run',
      'celery.state': 'SUCCESS',
      'messaging.conversation_id': 'r1',
      'messaging.destination': 'rk',
      'celery.delivery_info': "{'exchange': 'ex', 'routing_key': 'rk', 'priority': 0, 'redelivered': True}",
      'celery.eta': '2026-01-01T00:00:00+00:00',
      'celery.hostname': 'gen7@box',
      'messaging.message.id': 'r1',
      'celery.reply_to': 'oid',
      'celery.retries': 3,
      'celery.timelimit': ['5', ''],
      'celery.task_name': 't.a',
    });
  });

  test('publish attributes: action, id, name, exchange (when not empty), routing key, destination kind', () => {
    const task = (exchange: string, type: string) => ({
      id: 'p1', message: { headers: { task: 't.p' } }, raw: { headers: {} },
      target: { exchange, routingKey: 'rk', declare: [{ name: 'rk', routingKey: 'rk', exchange: { name: exchange, type } }] },
    });
    assert.deepEqual(publishAttributes(task('', 'direct') as never), {
      'celery.action': 'apply_async', 'messaging.message.id': 'p1', 'celery.task_name': 't.p', 'messaging.destination_kind': 'queue',
      'messaging.destination': 'rk',
    });
    assert.deepEqual(publishAttributes(task('events', 'topic') as never)['celery.exchange'], 'events');
    assert.deepEqual(publishAttributes(task('events', 'topic') as never)['messaging.destination_kind'], 'topic');
  });
});

describe('producer and worker spans', () => {
  let instrumentation: CeleriacInstrumentation;
  before(() => {
    instrumentation = new CeleriacInstrumentation();
  });
  after(() => instrumentation.disable());

  test('send: PRODUCER span apply_async/<task>, its context injected as traceparent', async () => {
    const { app, broker } = setup();
    const r = await app.sendTask('t.send', [1], {}, { queue: 'q' });
    const span = byName('apply_async/t.send');
    assert.equal(span.kind, SpanKind.PRODUCER);
    assert.equal(parentOf(span), undefined);
    assert.deepEqual(span.attributes, {
      'celery.action': 'apply_async', 'messaging.message.id': r.id, 'celery.task_name': 't.send',
      'messaging.destination_kind': 'queue', 'messaging.destination': 'q',
    });
    const headers = broker.published[0]!.raw.headers;
    const [, traceId, spanId] = TRACEPARENT.exec(String(headers.traceparent))!;
    assert.equal(traceId, span.spanContext().traceId);
    assert.equal(spanId, span.spanContext().spanId);
    assert.equal(headers.tracestate, undefined);
    await app.close();
  });

  test('send inside a span: the producer span is its child; tracestate travels', async () => {
    const { app, broker } = setup();
    const parent = trace.getTracer('test').startSpan('http');
    const sc = parent.spanContext();
    // the caller's context, as extracted from an incoming request that carried a tracestate
    const incoming = propagation.extract(ROOT_CONTEXT, { traceparent: `00-${sc.traceId}-${sc.spanId}-01`, tracestate: 'vendor=v1' });
    // a context manager is needed for context.with to mean anything (NodeSDK registers one)
    context.setGlobalContextManager(new AlsContextManager());
    try {
      await context.with(incoming, () => app.sendTask('t.child', [], {}, { queue: 'q' }));
    } finally {
      context.disable();
    }
    parent.end();
    const span = byName('apply_async/t.child');
    assert.equal(span.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(parentOf(span), parent.spanContext().spanId);
    const headers = broker.published[0]!.raw.headers;
    assert.equal(TRACEPARENT.exec(String(headers.traceparent))![2], span.spanContext().spanId);
    assert.equal(headers.tracestate, 'vendor=v1');
    await app.close();
  });

  test('worker: CONSUMER span run/<task>, child of the sender span in traceparent; what the task sends is its child', async () => {
    const { app, broker, backend } = setup();
    app.task('t.parent', async () => {
      await app.sendTask('t.kid', [], {}, { queue: 'other' });
      return 'ok';
    });
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'], hostname: 'w1@box' });
    await w.start();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    broker.deliver(raw('t.parent', 'run1', { traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate: 'congo=t61rcWkgMzE' }));
    await until(() => backend.states('run1').includes('SUCCESS'));
    await w.stop();
    const run = byName('run/t.parent');
    assert.equal(run.kind, SpanKind.CONSUMER);
    assert.equal(run.spanContext().traceId, traceId);
    assert.equal(parentOf(run), 'b7ad6b7169203331');
    assert.equal(run.parentSpanContext?.isRemote, true);
    assert.equal(run.spanContext().traceState?.serialize(), 'congo=t61rcWkgMzE');
    assert.deepEqual(run.attributes, {
      'celery.action': 'run', 'celery.state': 'SUCCESS', 'messaging.destination': 'q',
      'celery.delivery_info': "{'exchange': '', 'routing_key': 'q', 'priority': 0, 'redelivered': False}",
      'celery.hostname': 'gen1@sender', 'messaging.message.id': 'run1', 'messaging.conversation_id': 'run1', 'celery.reply_to': 'reply-oid',
      'celery.task_name': 't.parent',
    });
    assert.equal(run.status.code, SpanStatusCode.UNSET);
    // no context manager registered: the child still hangs under the run span (the worker's own store)
    const kid = byName('apply_async/t.kid');
    assert.equal(kid.spanContext().traceId, traceId);
    assert.equal(parentOf(kid), run.spanContext().spanId);
    const sent = broker.published.find((p) => p.raw.headers.task === 't.kid')!;
    assert.equal(TRACEPARENT.exec(String(sent.raw.headers.traceparent))![2], kid.spanContext().spanId);
    assert.equal(sent.raw.headers.tracestate, 'congo=t61rcWkgMzE');
  });

  test('worker with a context manager: a span the task opens is the parent of what it sends', async () => {
    const { app, broker, backend } = setup();
    const tracer = trace.getTracer('user');
    app.task('t.inner', async () => {
      await tracer.startActiveSpan('db', async (span) => {
        await app.sendTask('t.kid2', [], {}, { queue: 'other' });
        span.end();
      });
    });
    context.setGlobalContextManager(new AlsContextManager());
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'] });
    try {
      await w.start();
      broker.deliver(raw('t.inner', 'in1'));
      await until(() => backend.states('in1').includes('SUCCESS'));
    } finally {
      await w.stop();
      context.disable();
    }
    const run = byName('run/t.inner');
    assert.equal(parentOf(run), undefined, 'no traceparent: the run span is a root');
    const db = byName('db');
    const kid = byName('apply_async/t.kid2');
    assert.equal(parentOf(db), run.spanContext().spanId);
    assert.equal(parentOf(kid), db.spanContext().spanId);
    assert.equal(kid.spanContext().traceId, run.spanContext().traceId);
    void broker;
  });

  test('FAILURE: exception recorded, status ERROR with str(exc); RETRY: celery.retry.reason', async () => {
    const { app, broker, backend } = setup();
    app.task('t.fail', () => {
      throw new TypeError('bad input');
    });
    app.task('t.retry', (self: BoundTask) => self.retry({ countdown: 30, exc: new Error('later') }), { bind: true });
    const w = new Worker(app, { concurrency: 2, logger: silentLogger, queues: ['q'] });
    await w.start();
    broker.deliver(raw('t.fail', 'f1'));
    broker.deliver(raw('t.retry', 'y1'));
    await until(() => backend.states('f1').includes('FAILURE') && backend.states('y1').includes('RETRY') && spans().length >= 3);
    await w.stop();
    const fail = byName('run/t.fail');
    assert.equal(fail.attributes['celery.state'], 'FAILURE');
    assert.equal(fail.status.code, SpanStatusCode.ERROR);
    assert.equal(fail.status.message, 'bad input');
    assert.equal(fail.events.length, 1);
    assert.equal(fail.events[0]!.name, 'exception');
    assert.equal(fail.events[0]!.attributes!['exception.message'], 'bad input');
    assert.equal(fail.events[0]!.attributes!['exception.type'], 'TypeError');
    const retry = byName('run/t.retry');
    assert.equal(retry.attributes['celery.state'], 'RETRY');
    assert.equal(retry.attributes['celery.retry.reason'], "Retry in 30s: Exception('later')");
    assert.equal(retry.status.code, SpanStatusCode.UNSET);
    // the retry's publish (same id) is a child of the run span, as in Celery
    const again = byName('apply_async/t.retry');
    assert.equal(parentOf(again), retry.spanContext().spanId);
    assert.equal(again.attributes['messaging.message.id'], 'y1');
  });

  test('a failed publish ends its span with status ERROR', async () => {
    const { app, broker } = setup();
    broker.failPublishOf.add('t.down');
    await assert.rejects(app.sendTask('t.down', [], {}, { queue: 'q', retry: false }));
    const span = byName('apply_async/t.down');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    await app.close();
  });

  test('useSpanLinks: the run span is a root linked to the sender span', async () => {
    instrumentation.setConfig({ useSpanLinks: true });
    const { app, broker, backend } = setup();
    app.task('t.linked', () => 1);
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'] });
    try {
      await w.start();
      broker.deliver(raw('t.linked', 'l1', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }));
      await until(() => backend.states('l1').includes('SUCCESS'));
    } finally {
      await w.stop();
      instrumentation.setConfig({});
    }
    const run = byName('run/t.linked');
    assert.equal(parentOf(run), undefined);
    assert.notEqual(run.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(run.links.length, 1);
    assert.equal(run.links[0]!.context.spanId, 'b7ad6b7169203331');
  });

  test('disable(): no spans, no headers; enable() again traces again', async () => {
    const { app, broker } = setup();
    instrumentation.disable();
    assert.equal(tracingHooks(), null);
    assert.equal(instrumentation.isEnabled(), false);
    await app.sendTask('t.quiet', [], {}, { queue: 'q' });
    assert.equal(broker.published[0]!.raw.headers.traceparent, undefined);
    assert.equal(spans().length, 0);
    instrumentation.enable();
    await app.sendTask('t.loud', [], {}, { queue: 'q' });
    assert.match(String(broker.published[1]!.raw.headers.traceparent), TRACEPARENT);
    assert.equal(spans().length, 1);
    await app.close();
  });

  test('flower.task.runtime.seconds: one record per run, with task and worker', async () => {
    const records: { name: string; unit?: string; value: number; attributes: unknown }[] = [];
    const meterProvider = {
      getMeter: () => ({
        createHistogram: (name: string, o: { unit?: string } = {}) => ({
          record: (value: number, attributes: unknown) => void records.push({ name, unit: o.unit, value, attributes }),
        }),
      }),
    };
    instrumentation.setMeterProvider(meterProvider);
    const { app, broker, backend } = setup();
    app.task('t.timed', async () => new Promise((r) => setTimeout(r, 30)));
    const w = new Worker(app, { concurrency: 1, logger: silentLogger, queues: ['q'], hostname: 'w2@box' });
    try {
      await w.start();
      broker.deliver(raw('t.timed', 'm1'));
      await until(() => backend.states('m1').includes('SUCCESS') && records.length === 1);
    } finally {
      await w.stop();
      instrumentation.setMeterProvider(metrics.getMeterProvider());
    }
    assert.equal(records[0]!.name, 'flower.task.runtime.seconds');
    assert.equal(records[0]!.unit, 'seconds');
    assert.deepEqual(records[0]!.attributes, { task: 't.timed', worker: 'w2@box' });
    assert.ok(records[0]!.value >= 0.02 && records[0]!.value < 60, String(records[0]!.value));
  });

  test('setTracerProvider: spans go to that provider', async () => {
    const own = new InMemorySpanExporter();
    instrumentation.setTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(own)] }));
    const { app } = setup();
    try {
      await app.sendTask('t.own', [], {}, { queue: 'q' });
    } finally {
      instrumentation.setTracerProvider(trace.getTracerProvider());
    }
    assert.deepEqual(own.getFinishedSpans().map((s) => [s.name, s.instrumentationScope.name, s.instrumentationScope.schemaUrl]), [
      ['apply_async/t.own', 'celeriac', 'https://opentelemetry.io/schemas/1.11.0'],
    ]);
    assert.equal(spans().length, 0);
    await app.close();
  });
});

/**
 * `Instrumentation` of @opentelemetry/instrumentation (not installed here), as registerInstrumentations
 * and NodeSDK take it: the instrumentation must be assignable to it.
 */
interface InstrumentationShape {
  instrumentationName: string;
  instrumentationVersion: string;
  disable(): void;
  enable(): void;
  setTracerProvider(tracerProvider: TracerProvider): void;
  setMeterProvider(meterProvider: MeterProvider): void;
  setLoggerProvider?(loggerProvider: unknown): void;
  setConfig(config: { enabled?: boolean }): void;
  getConfig(): { enabled?: boolean };
}
export const typeCheck: (i: CeleriacInstrumentation) => InstrumentationShape = (i) => i;

describe('enabling', () => {
  test('the shape registerInstrumentations and NodeSDK use: providers, getConfig().enabled, enable/disable', () => {
    // what @opentelemetry/instrumentation's enableInstrumentations does with each instrumentation
    const i = new CeleriacInstrumentation({ enabled: false });
    assert.equal(tracingHooks(), null);
    i.setTracerProvider(trace.getTracerProvider());
    i.setMeterProvider(metrics.getMeterProvider());
    i.setLoggerProvider({});
    assert.equal(i.getConfig().enabled, false);
    if (!i.getConfig().enabled) i.enable();
    assert.equal(i.isEnabled(), true);
    assert.equal(i.instrumentationName, 'celeriac');
    assert.match(i.instrumentationVersion, /^\d+\.\d+\.\d+/);
    i.disable();
    assert.equal(tracingHooks(), null);
  });

  test('without @opentelemetry/api: one clear ConfigurationError', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
    };
    assert.throws(() => loadOpenTelemetryApi(missing), (err: unknown) =>
      err instanceof ConfigurationError && err.message === 'tracing needs @opentelemetry/api, which is not installed: npm install @opentelemetry/api');
    assert.throws(() => loadOpenTelemetryApi(() => ({})), /@opentelemetry\/api 1\.4 or later/);
  });

  test('importing celeriac and sending does not load @opentelemetry/api; creating the instrumentation does', () => {
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).filter((k) => k.includes('@opentelemetry')).length;
      const { createApp, CeleriacInstrumentation } = await import('./src/index.ts');
      const app = createApp({ broker_url: 'redis://127.0.0.1:1/0', env: {} });
      app.prepareTask('t.x', [1]);
      const before = loaded();
      new CeleriacInstrumentation();
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; after: number };
    assert.equal(out.before, 0);
    assert.ok(out.after > 0);
  });
});
