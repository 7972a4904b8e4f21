// `celeriac shell` with lines piped to its standard input (not a terminal): the banner lists what is
// loaded; `app`/`celery`, the tasks by short name and under `tasks`, `AsyncResult`, the canvas helpers
// are there; top-level `await` works and each line waits for the one before; a task sent from the shell
// is on the broker (a private redis-server) as Python Celery reads it; -T leaves the tasks out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { celeriac, missingPeers, show } from '../helpers/cli-ops.ts';
import { uniqueName } from '../helpers/peers.ts';
import { startRedis, stopAll } from '../helpers/private-redis.ts';

const qa = uniqueName('ops.shell.a');
let env: Record<string, string> | null = null;
let redis: Redis | null = null;
let skip: string | null = null;

before(async () => {
  skip = missingPeers({ redisServer: true });
  if (skip) return;
  const server = await startRedis({ prefix: 'cli-shell' });
  env = { OPS_BROKER: `redis://127.0.0.1:${server.port}/0`, OPS_QA: qa, OPS_QB: `${qa}.b`, OPS_X: `${qa}.x` };
  redis = new Redis({ host: '127.0.0.1', port: server.port });
});
after(async () => {
  redis?.disconnect();
  await stopAll();
});

test('celeriac shell: the app, its tasks and helpers, top-level await, piped lines in order', async (t) => {
  if (skip || !env) return t.skip(skip ?? 'no redis-server');
  const lines = [
    "Object.keys(tasks).join(',')",
    'app === celery && typeof add.delay',
    'const r = await add.delay(2, 3)',
    'r.id.length',
    'AsyncResult(r.id).id === r.id',
    'chain(add.s(1, 2), mul.s(3)).task',
    "group(add.s(1, 1), tasks['ops.mul'].s(2, 2)).kwargs.tasks.length",
    'await new Promise((res) => setTimeout(res, 300)); "slept"',
    `await app.broker.queueLength('${qa}')`,
    'r.id',
  ];
  const ts = await celeriac(['shell'], env, lines.join('\n') + '\n');
  assert.equal(ts.code, 0, show(ts));
  const out = ts.out.split('\n');
  assert.match(out[0]!, new RegExp(`^celeriac shell: Node\\.js v\\d+\\.\\d+\\.\\d+, app \\S+ops-app\\.ts, broker redis://127\\.0\\.0\\.1:\\d+/0, results disabled$`));
  assert.equal(out[1], 'Loaded: app, celery, AsyncResult, signature, chain, group, chord, chunks, xmap, xstarmap, tasks');
  assert.equal(out[2], 'Tasks: add (ops.add), mul (ops.mul), other (ops.other)');
  const answers = out.slice(3).join('\n').split('celeriac> ').slice(1).map((a) => a.trim());
  const id = JSON.parse(answers[9]!.replace(/'/g, '"')) as string;
  assert.deepEqual(answers, [
    "'ops.add,ops.mul,ops.other'", "'function'", 'undefined', '36', 'true', "'celery.chain'", '2', "'slept'", '1', `'${id}'`, '',
  ]);
  // the task sent from the shell, as a Python worker would take it
  const [element] = await redis!.lrange(qa, 0, -1);
  const m = decodeRedisEnvelope(element!);
  assert.equal(m.headers.task, 'ops.add');
  assert.equal(m.headers.id, id);
  assert.equal(Buffer.from(m.body).toString(), '[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');

  const bare = await celeriac(['shell', '-T'], env, 'typeof add + typeof tasks.x\n');
  assert.equal(bare.code, 0, show(bare));
  assert.ok(!bare.out.includes('Tasks:'), bare.out);
  assert.match(bare.out, /celeriac> 'undefinedundefined'/);
});
