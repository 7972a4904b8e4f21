// Canvas with the rpc:// result backend (RabbitMQ broker): real Celery 5.6 workers and a celeriac worker,
// results travel back to the caller's reply queue. Chains and groups work both ways; chords do not:
// Celery's RPCBackend.ensure_chords_allowed raises NotImplementedError(E_NO_CHORD_SUPPORT) from
// `_chord.run` (apply_chord) and from `prepare_steps` (a chain with a chord, or `group | sig` upgraded to one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { AsyncResult, GroupResult } from '../../src/result.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyValue } from '../../protocol/values.ts';
import { AMQP_URL, redisUrl, requirePython } from '../helpers/peers.ts';
import { selectedBrokers } from '../helpers/matrix.ts';
import { fleetQueues, runFleetScript, startMixedFleet, type MixedFleet } from '../helpers/fleet.ts';

const NOTES = redisUrl(3);
const { PYQ, TSQ, DEFQ, pyEnv, dropAmqpQueues } = fleetQueues('cr', AMQP_URL, 'rpc://', {}, { CELERIAC_NOTES_URL: NOTES });

let app: Celery;
let fleet: MixedFleet | undefined;
let skip = false;

const sig = (name: string, args: PyValue[] = []): SignatureDict => app.signature(name, args);
const py = <T = unknown>(code: string): Promise<T> => runFleetScript<T>('canvas_tasks', code);
/** Python's message for a chord on the rpc:// backend (str(NotImplementedError)). */
const pyChordError = () => py<[string, string]>(`try:
    chord([add.s(1, 1), ts('cts.add', 2, 2)], ts('cts.tsum')).apply_async()
    out = None
except Exception as e:
    out = [type(e).__name__, str(e)]`);

if (selectedBrokers().includes('amqp')) describe('[amqp] canvas with the rpc:// result backend', () => {
  before(async () => {
    const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
    if (!requirePython(probe as never)) return;
    Object.assign(process.env, pyEnv());
    app = new Celery({
      broker_url: AMQP_URL, result_backend: 'rpc://', task_default_queue: DEFQ, env: {},
      task_routes: { 'cpy.*': { queue: PYQ }, 'cts.*': { queue: TSQ } },
    });
    app.task('cts.add', (x: number, y: number = 0) => x + y);
    app.task('cts.mul', (x: number, y: number) => x * y);
    app.task('cts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    fleet = await startMixedFleet(app, {
      module: 'canvas_tasks', pyQueue: PYQ, tsQueues: [TSQ, DEFQ], tsConcurrency: 8, pyConcurrency: 8, env: pyEnv(),
    });
  });

  after(async () => {
    if (skip) return;
    await fleet?.stop();
    await app?.close();
    await dropAmqpQueues();
  });

  test('chains both ways: TS caller <- Python and TS workers, Python caller <- TS and Python workers', { skip }, async () => {
    const r = (await app.applyAsync(app.chain(sig('cpy.add', [1, 2]), sig('cts.mul', [10]), sig('cpy.add', [5])))) as AsyncResult;
    assert.equal(await r.get({ timeout: 30 }), 35);
    assert.equal(await py(`out = chain(ts('cts.add', 1, 2), mul.s(10), ts('cts.add', 5)).apply_async().get(timeout=30)`), 35);
  });

  test('groups both ways', { skip }, async () => {
    const g = (await app.applyAsync(app.group([sig('cpy.add', [1, 1]), sig('cts.add', [2, 2]), sig('cpy.mul', [3, 3])]))) as GroupResult;
    assert.deepEqual(await g.get({ timeout: 30 }), [2, 4, 9]);
    assert.deepEqual(await py(`out = group(add.s(1, 1), ts('cts.add', 2, 2), ts('cts.mul', 3, 3)).apply_async().get(timeout=30)`), [2, 4, 9]);
  });

  test('chords raise NotImplementedError as Celery does (no celery.chord_unlock), nothing is sent', { skip }, async () => {
    const [pyType, pyMessage] = await pyChordError();
    assert.equal(pyType, 'NotImplementedError');
    assert.match(pyMessage, /^The "rpc" result backend does not support chords!/);
    const check = (e: Error) => e.name === 'NotImplementedError' && e.message === pyMessage;
    await assert.rejects(app.applyAsync(app.chord([sig('cpy.add', [1, 1]), sig('cts.add', [2, 2])], sig('cts.tsum'))), check);
    // group | sig is upgraded to a chord by prepare_steps, which checks too
    await assert.rejects(app.applyAsync(app.chain(sig('cts.add', [1, 1]), app.group([sig('cpy.add', [1]), sig('cts.add', [2])]), sig('cts.tsum'))), check);
    const [pyType2, pyMessage2] = await py<[string, string]>(`try:
    chain(ts('cts.add', 1, 1), group(add.s(1), ts('cts.add', 2)), ts('cts.tsum')).apply_async()
    out = None
except Exception as e:
    out = [type(e).__name__, str(e)]`);
    assert.deepEqual([pyType2, pyMessage2], [pyType, pyMessage]);
    // nothing reached the queues
    const redis = new Redis(NOTES);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const amqp = await import('amqplib');
      const { amqplibUrl } = await import('../helpers/peers.ts');
      const conn = await amqp.connect(amqplibUrl());
      try {
        const ch = await conn.createChannel();
        for (const q of [PYQ, TSQ, DEFQ]) assert.equal((await ch.checkQueue(q)).messageCount, 0);
        await ch.close();
      } finally {
        await conn.close();
      }
    } finally {
      await redis.quit();
    }
  });
});
