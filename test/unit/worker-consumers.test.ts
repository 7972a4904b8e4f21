// add_consumer / cancel_consumer on a running worker happen in the order they came, as Celery's
// call_soon runs them: a cancel that arrives while an add still declares its queue (an AMQP round trip)
// leaves the queue unconsumed. Before, the cancel found nothing to cancel and the add went on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Celery } from '../../src/app.ts';
import type { ConsumeOptions, Consumer, Delivery, QueueDeclaration } from '../../src/broker.ts';
import { Worker } from '../../src/worker/worker.ts';
import { MemBackend, MemBroker } from '../helpers/mem-broker.ts';

class SlowDeclareBroker extends MemBroker {
  consumed: string[][] = [];
  override async declareQueue(): Promise<void> {
    await new Promise((r) => setTimeout(r, 50));
  }
  override consume(queues: string[], onMessage: (d: Delivery) => void, options: ConsumeOptions): Consumer {
    this.consumed.push([...queues]);
    return super.consume(queues, onMessage, options);
  }
}

test('a cancel_consumer right after add_consumer wins, whatever the declare takes', async () => {
  const broker = new SlowDeclareBroker();
  const app = new Celery({
    broker_url: 'redis://x', result_backend: 'redis://y', env: {}, worker_enable_remote_control: false,
    createBroker: () => broker, createBackend: () => new MemBackend(),
  });
  const silent = () => undefined;
  const worker = new Worker(app, { concurrency: 1, queues: ['q'], logger: { debug: silent, info: silent, warning: silent, error: silent, critical: silent } });
  await worker.start();
  try {
    const extra: QueueDeclaration = { name: 'extra', exchange: { name: 'extra', type: 'direct' }, routingKey: 'extra' };
    await Promise.all([worker.addConsumer(extra), worker.cancelConsumer('extra')]);
    assert.deepEqual(broker.consumed.at(-1), ['q'], `consume calls: ${JSON.stringify(broker.consumed)}`);
    await worker.addConsumer(extra);
    assert.deepEqual(broker.consumed.at(-1), ['q', 'extra']);
  } finally {
    await worker.stop();
  }
});
