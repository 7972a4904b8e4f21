// broker_heartbeat against a PRIVATE RabbitMQ node: heartbeat=2 is negotiated (RabbitMQ's own 60 s is
// lowered, as py-amqp/amqplib negotiate), the connection survives an idle period of several heartbeat
// intervals, and a stalled broker (the node's Erlang VM SIGSTOPped for > 2 heartbeats) is detected by the
// missed heartbeats: the worker drops the connection, reconnects after SIGCONT and runs tasks again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/peers.ts';
import { amqpApp, sleep, tsWorker } from '../helpers/amqp.ts';
import { privateRabbit, requireRabbit } from '../helpers/private-rabbit.ts';
import { captureConsoleError, teardownStack } from '../helpers/teardown.ts';

interface Conn {
  peerPort: string;
  timeout: number;
  product: string;
}

test('broker_heartbeat=2: negotiated, survives idling, a stalled broker (SIGSTOP) is detected and the worker reconnects after SIGCONT', { timeout: 180_000 }, async (t) => {
  if (!requireRabbit(t)) return;
  const rabbit = privateRabbit();
  const cleanup = teardownStack(t, () => rabbit.destroy());
  await rabbit.start();
  // the broker reports connection loss through console.error when no onError sink is given: capture it
  const reported = captureConsoleError(cleanup);

  const celeriacConns = async (): Promise<Conn[]> => {
    const out = await rabbit.ctl('list_connections', 'peer_port', 'timeout', 'client_properties', '--no-table-headers', '-q');
    return out.trim().split('\n').filter((l) => l.includes('celeriac')).map((l) => {
      const [peerPort, timeout] = l.split('\t');
      return { peerPort: peerPort!, timeout: Number(timeout), product: 'celeriac' };
    });
  };

  const q = uniqueName('amqp.hb');
  const conf = { task_default_queue: q, task_ignore_result: true, broker_heartbeat: 2 };
  const runs: number[] = [];
  const app = amqpApp(conf, rabbit.url);
  const w = await tsWorker(app, [q], (i) => runs.push(i), 2);
  cleanup.push(() => w.stop());
  const producer = amqpApp(conf, rabbit.url);
  cleanup.push(() => producer.close());
  const policy = { retry_policy: { max_retries: 100, interval_start: 0.5, interval_step: 0.5, interval_max: 1 } };
  const runOne = async (i: number, within: number) => {
    await producer.sendTask('amqp.record', [i], {}, policy);
    const end = Date.now() + within;
    while (!runs.includes(i)) {
      if (Date.now() > end) throw new Error(`task ${i} did not run within ${within} ms; reported:\n${reported.join('\n')}`);
      await sleep(50);
    }
  };
  await runOne(1, 10_000);

  // negotiated: RabbitMQ shows the connection's heartbeat timeout as 2 (its own default is 60)
  const before = await celeriacConns();
  assert.ok(before.length >= 2, `worker and producer connections: ${JSON.stringify(before)}`);
  assert.ok(before.every((c) => c.timeout === 2), `heartbeat 2 negotiated: ${JSON.stringify(before)}`);

  // idle for 3.5 heartbeat intervals: the heartbeats keep the connection open
  await sleep(7000);
  assert.deepEqual(reported.filter((l) => /lost the connection|Heartbeat/i.test(l)), []);
  const idle = await celeriacConns();
  assert.deepEqual(idle.map((c) => c.peerPort).sort(), before.map((c) => c.peerPort).sort(), 'the same connections after idling');
  await runOne(2, 10_000);

  // a stalled broker: the VM does not answer (TCP stays open); missed heartbeats are detected
  const pid = rabbit.beamPid();
  process.kill(pid, 'SIGSTOP');
  const stalledAt = Date.now();
  let continued = false;
  cleanup.push(async () => {
    if (!continued) process.kill(pid, 'SIGCONT');
  });
  let detectedAfter = -1;
  while (Date.now() - stalledAt < 12_000) {
    if (detectedAfter < 0 && reported.some((l) => /lost the connection to the AMQP broker/.test(l))) detectedAfter = Date.now() - stalledAt;
    await sleep(100);
  }
  process.kill(pid, 'SIGCONT');
  continued = true;
  t.diagnostic(`celeriac-count: heartbeat loss detected after ${detectedAfter} ms (heartbeat 2 s)`);
  assert.ok(detectedAfter > 0 && detectedAfter <= 9000, `the stalled broker was detected by missed heartbeats (${detectedAfter} ms); reported:\n${reported.join('\n')}`);
  assert.ok(reported.some((l) => /Heartbeat timeout/i.test(l)), `amqplib's heartbeat timeout was reported:\n${reported.join('\n')}`);
  assert.ok(!reported.join('\n').includes('guest:guest'), 'no password in reports');

  // resumed: the worker reconnects (a new connection) and runs tasks again
  await runOne(3, 60_000);
  const after = await celeriacConns();
  const old = new Set(before.map((c) => c.peerPort));
  assert.ok(after.some((c) => !old.has(c.peerPort) && c.timeout === 2), `a new connection, heartbeat 2: ${JSON.stringify(after)} vs ${JSON.stringify(before)}`);
});
