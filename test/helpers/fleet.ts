/**
 * A mixed fleet for the canvas suites: a celeriac Worker on the TypeScript queues and a real Python
 * Celery worker (threads pool) on its own queue, started side by side and stopped in reverse.
 */
import type { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { runPython, startPythonWorker, uniqueName } from './peers.ts';
import { deleteAmqpQueues } from './matrix.ts';
import { testLogger } from './worker.ts';

export interface MixedFleetOptions {
  /** The Python module (in test/python) that defines the Python tasks and the app. */
  module: string;
  /** The queue the Python worker consumes (also its node name). */
  pyQueue: string;
  /** The queues the TypeScript worker consumes; the first one names its node. */
  tsQueues: string[];
  tsConcurrency: number;
  pyConcurrency: number;
  /** The Python worker's environment (broker, backend, queue names...). */
  env: NodeJS.ProcessEnv;
}

export interface MixedFleet {
  stop(): Promise<void>;
}

export async function startMixedFleet(app: Celery, o: MixedFleetOptions): Promise<MixedFleet> {
  const worker = new Worker(app, { queues: o.tsQueues, concurrency: o.tsConcurrency, hostname: `${o.tsQueues[0]}@%h`, logger: testLogger() });
  await worker.start();
  const py = await startPythonWorker(
    ['-A', o.module, 'worker', '-Q', o.pyQueue, '-P', 'threads', '-c', String(o.pyConcurrency), '-n', `${o.pyQueue}@%h`,
      '--without-mingle', '--without-gossip', '-l', 'info'],
    { cwd: 'test/python', env: o.env },
  );
  return {
    async stop() {
      await py.stop();
      await worker.stop();
    },
  };
}

/**
 * The queues of one canvas suite (`<prefix>py` for the Python worker, `<prefix>ts` and `<prefix>def` for
 * the TypeScript one) and the environment test/python's task modules read them, the broker, the backend
 * and the settings (`CELERIAC_CONF`) from; `extra` adds to it.
 */
export function fleetQueues(prefix: string, brokerUrl: string, backendUrl: string, settings: unknown, extra: NodeJS.ProcessEnv = {}) {
  const PYQ = uniqueName(`${prefix}py`);
  const TSQ = uniqueName(`${prefix}ts`);
  const DEFQ = uniqueName(`${prefix}def`);
  const pyEnv = (): NodeJS.ProcessEnv => ({
    CELERIAC_BROKER_URL: brokerUrl, CELERIAC_BACKEND_URL: backendUrl, CELERIAC_PY_QUEUE: PYQ, CELERIAC_TS_QUEUE: TSQ,
    CELERIAC_DEFAULT_QUEUE: DEFQ, CELERIAC_CONF: JSON.stringify(settings), ...extra,
  });
  /** Deletes the three queues (and their exchanges) from RabbitMQ, after an AMQP suite. */
  const dropAmqpQueues = () => deleteAmqpQueues([PYQ, TSQ, DEFQ], [PYQ, TSQ, DEFQ]);
  return { PYQ, TSQ, DEFQ, pyEnv, dropAmqpQueues };
}

/**
 * Runs `code` with test/python/<module>.py as a script (its app, tasks and canvas in scope) and returns
 * the JSON of the variable `out`, which the script prints last.
 */
export async function runFleetScript<T = unknown>(module: string, code: string): Promise<T> {
  const out = await runPython(`test/python/${module}.py`, { code });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
