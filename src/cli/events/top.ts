/**
 * `celeriac events` without `--dump`: the live view (Celery's `evtop`). Feeds an events State from an
 * `app.events.receiver()` on the app's `event_exchange`, draws it with Ink in the terminal's alternate
 * screen, and returns when the user quits (q or Ctrl-C). Ink and React are imported here, so only the
 * live view loads them.
 */
import type { PyDict } from '../../../protocol/values.ts';
import type { Celery } from '../../app.ts';
import { State } from '../../events/state.ts';
import type { EventsStore, ViewControl } from './view.ts';

export interface TopOptions {
  version: string;
}

const ENTER_ALT_SCREEN = '\x1b[?1049h\x1b[H';
const LEAVE_ALT_SCREEN = '\x1b[?1049l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * Ink renders only at exit when it believes it runs in CI (`CI` set); the live view runs only on a
 * terminal, so it is interactive whatever the environment says: load Ink without those variables.
 */
async function importInk(): Promise<[typeof import('ink'), typeof import('react'), typeof import('./view.ts')]> {
  const saved: Record<string, string | undefined> = {};
  for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  try {
    return await Promise.all([import('ink'), import('react'), import('./view.ts')]);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

/**
 * The remote control the view sends through the app, collecting each worker's reply: until every
 * worker the State has alive replied (5 s at most for the next one), or for 1 s when none is alive
 * (Celery's deadline).
 */
function viewControl(app: Celery, state: State): ViewControl {
  const control = app.control as unknown as {
    revoke(ids: string, o: object): Promise<unknown>;
    rateLimit?(name: string, rate: string, o: object): Promise<unknown>;
  };
  const options = () => {
    const alive = state.aliveWorkers().length;
    return alive ? { reply: true, timeout: 5, limit: alive } : { reply: true, timeout: 1 };
  };
  const replies = (r: unknown) => (Array.isArray(r) ? (r as PyDict[]) : null);
  return {
    revoke: async (uuid) => {
      const o = options();
      return { replies: replies(await control.revoke(uuid, o)), deadline: o.timeout };
    },
    rateLimit: async (name, rate) => {
      if (!control.rateLimit) throw new Error('this celeriac has no app.control.rateLimit');
      const o = options();
      return { replies: replies(await control.rateLimit(name, rate, o)), deadline: o.timeout };
    },
  };
}

export async function runTop(app: Celery, options: TopOptions): Promise<void> {
  const state = new State();
  const listeners = new Set<() => void>();
  const store: EventsStore = {
    state,
    status: null,
    subscribe(fn) {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
  };
  const changed = () => {
    for (const fn of listeners) fn();
  };
  const receiver = app.events.receiver({
    handlers: {
      '*': (e) => {
        state.event(e);
        if (store.status) store.status = null;
        changed();
      },
    },
    onError: (err) => {
      store.status = err.message;
      changed();
    },
  });
  process.stderr.write('-> evtop: starting capture...\n');
  await receiver.start();

  const [ink, React, view] = await importInk();
  const stdout = process.stdout;
  stdout.write(ENTER_ALT_SCREEN);
  const instance = ink.render(
    React.createElement(view.EventsView, { store, control: viewControl(app, state), title: `celeriac events ${options.version}` }),
    { exitOnCtrlC: true, patchConsole: true },
  );
  try {
    await instance.waitUntilExit();
  } finally {
    instance.cleanup();
    stdout.write(LEAVE_ALT_SCREEN + SHOW_CURSOR);
    await receiver.stop().catch(() => undefined);
  }
}
