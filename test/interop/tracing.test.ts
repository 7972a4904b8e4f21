// Tracing across languages, on each broker of the matrix (results in Redis db 5): a trace stays one trace
// through TypeScript and Python Celery. The Python worker (test/python/tracing_tasks.py) propagates as
// opentelemetry-instrumentation-celery does, with opentelemetry-api's W3C propagator in Celery's signals.
//   TS producer → Python task tr.py.middle → it sends tr.ts.leaf → TS worker: one trace id, each span the
//   child of the one before (TS apply_async → Python run → Python apply_async → TS run).
//   Python producer (inside a root span with tracestate py=1) → TS worker continues the Python trace.
// The request values Python's instrumentation reads are compared with the TS run span's attributes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { propagation, SpanKind, trace } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Celery } from '../../src/app.ts';
import { CeleriacInstrumentation } from '../../src/tracing/instrumentation.ts';
import { Worker } from '../../src/worker/worker.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { PYTHON, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { testLogger } from '../helpers/worker.ts';

const DB = 5;
const exporter = new InMemorySpanExporter();
let instrumentation: CeleriacInstrumentation;

interface PySpan {
  name: string;
  kind: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  tracestate: string;
  task_id?: string;
  request?: Record<string, unknown>;
}

before(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  instrumentation = new CeleriacInstrumentation();
});
after(() => instrumentation.disable());

async function spanOf(name: string, taskId: string, ms = 30_000): Promise<ReadableSpan> {
  const end = Date.now() + ms;
  for (;;) {
    const found = exporter.getFinishedSpans().find((s) => s.name === name && s.attributes['messaging.message.id'] === taskId);
    if (found) return found;
    if (Date.now() > end) throw new Error(`no span ${name} for ${taskId}: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Deletes the keys (queues, kombu bindings) whose names contain one of `names` from a Redis broker db. */
async function dropRedisKeys(url: string, names: string[]): Promise<void> {
  const redis = new Redis(url);
  try {
    for (const name of names) {
      const keys = await redis.keys(`*${name}*`);
      if (keys.length) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

for (const b of brokerMatrix(DB)) tracingSuite(b);

function tracingSuite(b: BrokerCase): void {
  const TSQ = uniqueName('tr.ts');
  const PYQ = uniqueName('tr.py');
  const CTRL = uniqueName('tr.ctrl');
  const EV = uniqueName('tr.ev');
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-tracing-'));
  const log = join(dir, 'spans.jsonl');
  const env: NodeJS.ProcessEnv = {
    CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_BACKEND_URL: b.backendUrl, CELERIAC_PY_QUEUE: PYQ, CELERIAC_TS_QUEUE: TSQ,
    CELERIAC_CONTROL_EXCHANGE: CTRL, CELERIAC_EVENT_EXCHANGE: EV, CELERIAC_CONF: JSON.stringify(b.settings), CELERIAC_TRACE_LOG: log,
  };
  const pySpans = (): PySpan[] => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PySpan);
  let skip = false;
  let app: Celery;
  let worker: Worker | undefined;
  let py: PythonWorker | undefined;

  describe(`tracing across TypeScript and Python (${b.name})`, () => {
    before(async (t) => {
      if (!requirePython(t as never)) {
        skip = true;
        return;
      }
      app = new Celery({
        broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, ...b.settings,
        task_routes: { 'tr.py.*': { queue: PYQ }, 'tr.ts.*': { queue: TSQ } },
        control_exchange: CTRL, event_exchange: EV,
      });
      app.task('tr.ts.leaf', (label: string) => `leaf ${label}`);
      worker = new Worker(app, { queues: [TSQ], concurrency: 2, hostname: `${TSQ}@ts`, logger: testLogger() });
      await worker.start();
      py = await startPythonWorker(
        ['-A', 'tracing_tasks', 'worker', '-Q', PYQ, '-P', 'threads', '-c', '2', '-n', `${PYQ}@py`, '--without-mingle', '--without-gossip', '-l', 'info'],
        { cwd: 'test/python', env },
      );
    });

    after(async () => {
      await py?.stop();
      await worker?.stop();
      await app?.close();
      if (b.name === 'amqp' && !skip) await deleteAmqpQueues([TSQ, PYQ], [TSQ, PYQ, `${CTRL}.pidbox`, `reply.${CTRL}.pidbox`, EV]);
      if (b.name === 'redis' && !skip) await dropRedisKeys(b.brokerUrl, [TSQ, PYQ, CTRL, EV]);
      rmSync(dir, { recursive: true, force: true });
    });

    test('TS producer → Python task → TS task: one trace, each span the child of the one before', async (t) => {
      if (skip) return t.skip('no python');
      const middle = await app.sendTask<string>('tr.py.middle', ['a']);
      const leafId = await middle.get({ timeout: 30 });
      const tsSend = await spanOf('apply_async/tr.py.middle', middle.id);
      const tsRun = await spanOf('run/tr.ts.leaf', leafId);
      const spans = pySpans();
      const pyRun = spans.find((s) => s.name === 'run/tr.py.middle' && s.task_id === middle.id);
      const pySend = spans.find((s) => s.name === 'apply_async/tr.ts.leaf' && s.task_id === leafId);
      assert.ok(pyRun && pySend, JSON.stringify(spans));

      const traceId = tsSend.spanContext().traceId;
      assert.equal(tsSend.kind, SpanKind.PRODUCER);
      assert.equal(tsSend.parentSpanContext, undefined, 'the trace starts at the TypeScript send');
      assert.equal(pyRun.trace_id, traceId);
      assert.equal(pyRun.parent_span_id, tsSend.spanContext().spanId);
      assert.equal(pySend.trace_id, traceId);
      assert.equal(pySend.parent_span_id, pyRun.span_id);
      assert.equal(tsRun.kind, SpanKind.CONSUMER);
      assert.equal(tsRun.spanContext().traceId, traceId);
      assert.equal(tsRun.parentSpanContext?.spanId, pySend.span_id);
      assert.equal(tsRun.parentSpanContext?.isRemote, true);
      assert.equal(tsRun.attributes['celery.state'], 'SUCCESS');

      // what Python's instrumentation reads from its request, and the TS run span's attributes for the same
      // kind of message (a plain send to a direct queue): the same keys, delivery_info the same str()
      // (the instrumentation leaves out retries 0 and a timelimit without limits)
      const req = Object.fromEntries(Object.entries(pyRun.request!).filter(([k, v]) =>
        !(k === 'retries' && v === 0) && !(k === 'timelimit' && Array.isArray(v) && v.every((x) => x === null))));
      assert.deepEqual(Object.keys(req).sort(), ['correlation_id', 'delivery_info', 'hostname', 'id', 'origin', 'reply_to']);
      const a = tsRun.attributes;
      assert.deepEqual(Object.keys(a).sort(), [
        'celery.action', 'celery.delivery_info', 'celery.hostname', 'celery.reply_to', 'celery.state', 'celery.task_name',
        'messaging.conversation_id', 'messaging.destination', 'messaging.message.id',
      ]);
      assert.equal(a['celery.delivery_info'], String(req.delivery_info).replace(PYQ, TSQ));
      assert.equal(a['messaging.destination'], TSQ);
      assert.equal(a['messaging.message.id'], leafId);
      assert.equal(a['messaging.conversation_id'], leafId);
      assert.match(String(a['celery.hostname']), /^gen\d+@/, "the sender's origin (gen<pid>@host) wins over the worker's hostname");
      assert.equal(tsSend.attributes['messaging.destination'], PYQ);
      assert.equal(tsSend.attributes['messaging.destination_kind'], 'queue');
    });

    test('Python producer → TS worker continues the Python trace, tracestate included', async (t) => {
      if (skip) return t.skip('no python');
      const out = await new Promise<string>((res, rej) => {
        const child = execFile(resolve(PYTHON), ['tracing_tasks.py'], { cwd: 'test/python', env: { ...process.env, ...env } }, (err, stdout, stderr) =>
          err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout));
        child.stdin!.end(JSON.stringify({ label: 'b' }));
      });
      const { root, id } = JSON.parse(out.trim().split('\n').pop()!) as { root: PySpan; id: string };
      const pySend = pySpans().find((s) => s.name === 'apply_async/tr.ts.leaf' && s.task_id === id);
      assert.ok(pySend);
      assert.equal(pySend.parent_span_id, root.span_id);
      const tsRun = await spanOf('run/tr.ts.leaf', id);
      assert.equal(tsRun.spanContext().traceId, root.trace_id);
      assert.equal(tsRun.parentSpanContext?.spanId, pySend.span_id);
      assert.equal(tsRun.spanContext().traceState?.serialize(), 'py=1');
      assert.equal(await app.AsyncResult<string>(id).get({ timeout: 30 }), 'leaf b');
    });
  });
}
