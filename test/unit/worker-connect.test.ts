// The worker's startup connection (src/worker/connect.ts): Celery's broker_connection_retry_on_startup /
// broker_connection_retry / broker_connection_max_retries rules, kombu's intervals, Celery's log lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../src/broker.ts';
import { BrokerConnectionError, BrokerError } from '../../src/brokers/errors.ts';
import { connectOnStartup, humanizeIn, startupIntervals, type StartupRetrySettings } from '../../src/worker/connect.ts';
import type { WorkerLogger } from '../../src/worker/log.ts';

const SAFE = 'amqp://guest:**@127.0.0.1:5999//';

function fakeBroker(failures: number, error: () => Error = () => new BrokerConnectionError(`cannot connect to the AMQP broker ${SAFE}: connect ECONNREFUSED 127.0.0.1:5999`)) {
  let calls = 0;
  const b = {
    safeUrl: SAFE,
    async connect() {
      calls++;
      if (calls <= failures) throw error();
    },
    get calls() {
      return calls;
    },
  };
  return b as unknown as Broker & { calls: number };
}

function logs() {
  const lines: [string, string][] = [];
  const at = (lvl: string) => (m: string) => lines.push([lvl, m]);
  const logger: WorkerLogger = { debug: at('debug'), info: at('info'), warning: at('warning'), error: at('error'), critical: at('critical') };
  return { lines, logger };
}

const conf = (o: Partial<StartupRetrySettings> = {}): StartupRetrySettings => ({
  brokerConnectionRetry: true, brokerConnectionRetryOnStartup: null, brokerConnectionMaxRetries: 100, ...o,
});
const fast = () => startupIntervals(0.01, 0.01, 0.05);

test("kombu's retry_over_time intervals (2, 4, ..., 30, 30) and Celery's humanize_seconds", () => {
  const it = startupIntervals();
  const got = Array.from({ length: 17 }, () => it.next().value);
  assert.deepEqual(got, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 30, 30]);
  const it2 = startupIntervals(1, 1, 2);
  assert.deepEqual(Array.from({ length: 5 }, () => it2.next().value), [1, 2, 2, 2, 2]);
  assert.equal(humanizeIn(2), 'in 2.00 seconds');
  assert.equal(humanizeIn(1), 'in 1.00 second');
  assert.equal(humanizeIn(90), 'in 1.50 minutes');
  assert.equal(humanizeIn(0.5), 'now');
});

test('retry on startup (default): retries with backoff, logs Celery\'s lines, then connects', async () => {
  const b = fakeBroker(3);
  const { lines, logger } = logs();
  await connectOnStartup(b, conf(), { logger, intervals: fast });
  assert.equal(b.calls, 4);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map(([l]) => l), ['error', 'error', 'error']);
  assert.match(lines[0]![1], /^consumer: Cannot connect to amqp:\/\/guest:\*\*@127\.0\.0\.1:5999\/\/: connect ECONNREFUSED 127\.0\.0\.1:5999\.\nTrying again now\.\.\. \(1\/100\)$/);
  assert.match(lines[2]![1], /\(3\/100\)$/);
});

test('the log line with the real default intervals', async () => {
  const b = fakeBroker(1);
  const { lines, logger } = logs();
  const t0 = Date.now();
  await connectOnStartup(b, conf({ brokerConnectionMaxRetries: null }), { logger });
  assert.ok(Date.now() - t0 >= 1900, 'waited ~2 s');
  assert.equal(lines[0]![1], `consumer: Cannot connect to ${SAFE}: connect ECONNREFUSED 127.0.0.1:5999.\nTrying again in 2.00 seconds... (1/None)`);
});

test('broker_connection_retry_on_startup=False: one attempt, a clear error naming the safe URL', async () => {
  const b = fakeBroker(5);
  const { lines, logger } = logs();
  await assert.rejects(connectOnStartup(b, conf({ brokerConnectionRetryOnStartup: false }), { logger, intervals: fast }), (err: Error) => {
    assert.ok(err instanceof BrokerConnectionError);
    assert.equal(err.message, `consumer: Cannot connect to ${SAFE}: connect ECONNREFUSED 127.0.0.1:5999. Not retrying: broker_connection_retry_on_startup is False`);
    return true;
  });
  assert.equal(b.calls, 1);
  assert.equal(lines.length, 0);
});

test('retry_on_startup None follows broker_connection_retry (False: no retry, with Celery\'s pending-deprecation warning)', async () => {
  const b = fakeBroker(5);
  const { lines, logger } = logs();
  await assert.rejects(connectOnStartup(b, conf({ brokerConnectionRetry: false }), { logger, intervals: fast }), /broker_connection_retry_on_startup is None and broker_connection_retry is False/);
  assert.equal(b.calls, 1);
  assert.match(lines[0]![1], /will no longer determine/);
  // retry_on_startup True wins over broker_connection_retry False (Celery: first_connection_attempt)
  const b2 = fakeBroker(2);
  await connectOnStartup(b2, conf({ brokerConnectionRetry: false, brokerConnectionRetryOnStartup: true }), { logger: logs().logger, intervals: fast });
  assert.equal(b2.calls, 3);
});

test('broker_connection_max_retries: gives up after that many retries (kombu: 0 = no retry)', async () => {
  const b = fakeBroker(100);
  const { lines, logger } = logs();
  await assert.rejects(connectOnStartup(b, conf({ brokerConnectionMaxRetries: 3 }), { logger, intervals: fast }), /Giving up after 3 retries \(broker_connection_max_retries=3\)/);
  assert.equal(b.calls, 4);
  assert.equal(lines.length, 3);
  const b0 = fakeBroker(100);
  await assert.rejects(connectOnStartup(b0, conf({ brokerConnectionMaxRetries: 0 }), { logger, intervals: fast }), /Giving up after 0 retries/);
  assert.equal(b0.calls, 1);
});

test('a refused login or a non-connection error is not retried', async () => {
  const denied = fakeBroker(5, () => new BrokerConnectionError(`cannot connect to the AMQP broker ${SAFE}: Handshake terminated by server: 403 (ACCESS-REFUSED)`));
  await assert.rejects(connectOnStartup(denied, conf(), { logger: logs().logger, intervals: fast }), /ACCESS-REFUSED/);
  assert.equal(denied.calls, 1);
  const other = fakeBroker(5, () => new BrokerError('something else'));
  await assert.rejects(connectOnStartup(other, conf(), { logger: logs().logger, intervals: fast }), /something else/);
  assert.equal(other.calls, 1);
});

test('a worker stopped while retrying gives up without waiting out the backoff', { timeout: 120_000 }, async () => {
  const b = fakeBroker(1000);
  let stop = false;
  const { lines, logger } = logs();
  // the worker is stopped once it has logged the first retry and started waiting out an hour-long
  // backoff: it must give up in that wait (waiting it out would exceed the test's timeout by far)
  const stopping = { ...logger, error: (m: string) => {
    logger.error(m);
    setTimeout(() => (stop = true), 10);
  } };
  await assert.rejects(
    connectOnStartup(b, conf(), { logger: stopping, stopping: () => stop, intervals: () => startupIntervals(3600, 3600, 3600) }),
    /stopped while connecting to amqp:\/\/guest:\*\*@/,
  );
  assert.equal(b.calls, 1, 'no connection attempt after the stop');
  assert.equal(lines.length, 1);
  assert.match(lines[0]![1], /Trying again in 1\.00 hour\.\.\. \(1\/100\)/);
});
