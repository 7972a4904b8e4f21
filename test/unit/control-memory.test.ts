// celery.utils.debug's formatting, as the memsample/memdump replies use it (expected values printed by
// Python 3.11: '{0:.5}'.format(f) and celery.utils.debug.sample).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hfloat, humanbytes, sample } from '../../src/worker/control/memory.ts';

test('hfloat and humanbytes as celery.utils.debug formats them', () => {
  const cases: [number, string][] = [
    [52.34375, '52.344'], [12345.6, '1.2346e+04'], [1023.95, '1024.0'], [100.5, '100.5'], [9.99999, '10.0'],
    [0.5, '0.5'], [123.456789, '123.46'], [123456.7, '1.2346e+05'], [0.0000123, '1.23e-05'], [9999.95, '1e+04'], [52, '52'],
  ];
  for (const [f, want] of cases) assert.equal(hfloat(f), want, String(f));
  assert.equal(humanbytes(54886400), '52.344MB');
  assert.equal(humanbytes(512), '512b');
  assert.equal(humanbytes(2 ** 30 * 3), '3GB');
});

test('sample: every len//n-th item; fewer items than n repeat the first (Celery quirk)', () => {
  assert.deepEqual(sample([1, 2, 3], 10), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(sample([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 5), [1, 3, 5, 7, 9]);
  assert.deepEqual(sample([], 10), []);
});
