// --autoscale MAX,MIN: Celery's Autoscaler rules (celery/worker/autoscale.py) on a fake worker and clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Autoscaler, type Scalable } from '../../src/worker/pool/autoscale.ts';
import { silentLogger } from '../../src/worker/log.ts';

function fake(concurrency: number) {
  const w = { concurrency, qty: 0, logger: silentLogger, resizePool(d: number) { w.concurrency = Math.max(1, w.concurrency + d); }, reservedCount: () => w.qty };
  return w as Scalable & { concurrency: number; qty: number };
}

test('grows at once to the requests held (up to MAX), shrinks to MIN only after keepalive since the last scale up', () => {
  let now = 0;
  const w = fake(2);
  const a = new Autoscaler(w, 6, 2, 30, () => now);
  w.qty = 4;
  assert.equal(a.maybeScale(), true);
  assert.equal(w.concurrency, 4);
  w.qty = 20;
  a.maybeScale();
  assert.equal(w.concurrency, 6, 'never above MAX');
  w.qty = 0;
  now = 10;
  assert.equal(a.maybeScale(), false, 'not within keepalive of the last scale up');
  assert.equal(w.concurrency, 6);
  now = 31;
  assert.equal(a.maybeScale(), true);
  assert.equal(w.concurrency, 2, 'down to MIN');
  assert.deepEqual(a.info(), { max: 6, min: 2, current: 2, qty: 0 });
});

test('control autoscale: a MAX below the size shrinks now, a MIN above it grows now', () => {
  const w = fake(5);
  const a = new Autoscaler(w, 8, 1, 30, () => 0);
  assert.deepEqual(a.update(3, null), [3, 1]);
  assert.equal(w.concurrency, 3);
  assert.deepEqual(a.update(null, 4), [3, 4]);
  assert.equal(w.concurrency, 4);
});
