/**
 * The live view's React component (Ink): draws the screen src/cli/events/layout.ts lays out, redraws
 * when events arrive (at most every 100 ms) and every second (heartbeats expire with time), follows
 * the terminal's size, and hands keys to src/cli/events/keys.ts. No JSX: `React.createElement`.
 */
import React, { useEffect, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import type { PyDict } from '../../../protocol/values.ts';
import { pyTime } from '../../../protocol/events.ts';
import type { State } from '../../events/state.ts';
import { INITIAL_UI, onKey, replyLines, type KeyPress, type UiState } from './keys.ts';
import { screen, screenTasks, type Line } from './layout.ts';

const h = React.createElement;

/** What the view watches: the State the receiver feeds, and a connection problem to show. */
export interface EventsStore {
  readonly state: State;
  status: string | null;
  /** Calls `fn` after events changed the State; returns the unsubscribe. */
  subscribe(fn: () => void): () => void;
}

/** What a remote control command brought back: the workers' replies, and how long they had. */
export interface ControlReplies {
  replies: PyDict[] | null;
  /** Seconds. */
  deadline: number;
}

/** The remote control commands the view sends. */
export interface ViewControl {
  revoke(uuid: string): Promise<ControlReplies>;
  rateLimit(taskName: string, rate: string): Promise<ControlReplies>;
}

function LineView({ line }: { line: Line }): React.ReactElement {
  const empty = line.every((s) => s.text === '');
  return h(Box, { height: 1 }, h(Text, { wrap: 'truncate' }, ...(empty ? [' '] : line.map((s, i) =>
    h(Text, { key: i, color: s.color, bold: s.bold, dimColor: s.dim, inverse: s.inverse, underline: s.underline }, s.text)))));
}

export function EventsView({ store, control, title }: { store: EventsStore; control: ViewControl; title: string }): React.ReactElement {
  const { stdout } = useStdout();
  const { exit } = useApp();
  const size = () => ({ width: stdout.columns || 80, height: stdout.rows || 24 });
  const [dims, setDims] = useState(size);
  const [, setTick] = useState(0);
  const [ui, setUi] = useState<UiState>(INITIAL_UI);
  const uiRef = useRef(ui);
  uiRef.current = ui;

  useEffect(() => {
    const onResize = () => setDims(size());
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);
  useEffect(() => {
    let timer: NodeJS.Timeout | null = null;
    const unsubscribe = store.subscribe(() => {
      timer ??= setTimeout(() => {
        timer = null;
        setTick((t) => t + 1);
      }, 100);
    });
    const every = setInterval(() => setTick((t) => t + 1), 1000);
    return () => {
      unsubscribe();
      clearInterval(every);
      if (timer) clearTimeout(timer);
    };
  }, [store]);

  // one line short of the terminal: Ink then updates in place instead of clearing the screen
  const height = Math.max(5, dims.height - 1);
  const width = dims.width;

  const press = (input: string, key: Omit<KeyPress, 'input'>) => {
    const tasks = screenTasks(store.state, height).map((t) => t.uuid);
    const { ui: next, effect } = onKey(uiRef.current, { ...key, input }, { tasks, task: (id) => store.state.tasks.get(id) });
    uiRef.current = next;
    setUi(next);
    if (!effect) return;
    if (effect.kind === 'quit') exit();
    else if (effect.kind === 'beep') stdout.write('\x07');
    else {
      const title = `Remote Control Command Replies (${effect.kind === 'revoke' ? `revoke ${effect.uuid}` : `rate_limit ${effect.taskName} ${effect.rate}`})`;
      const sent = effect.kind === 'revoke' ? control.revoke(effect.uuid) : control.rateLimit(effect.taskName, effect.rate);
      void sent.then(
        (r) => setUi((u) => ({ ...u, alert: { kind: 'replies', title, replies: replyLines(r.replies), deadline: r.deadline } })),
        (err: Error) => setUi((u) => ({ ...u, alert: { kind: 'replies', title, replies: [{ host: 'error', text: err.message, ok: false }], deadline: 0 } })),
      );
    }
  };
  // keys typed faster than a read come as one string (Ink passes them as a paste): one at a time
  useInput((input, key) => {
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) press(ch === '\r' || ch === '\n' ? '' : ch, { return: ch === '\r' || ch === '\n', backspace: ch === '\x7f' || ch === '\b' });
    } else press(input, key);
  });

  const lines = screen({ state: store.state, ui, width, height, now: pyTime(), title, status: store.status });
  return h(Box, { flexDirection: 'column', width, height: lines.length }, ...lines.map((line, i) => h(LineView, { key: i, line })));
}
