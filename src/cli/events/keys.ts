/**
 * The keys of the live view and what they do to its state (pure). Celery's bindings
 * (celery/events/cursesmon.py), case-insensitive as there:
 *
 * | key            | does                                                                  |
 * |----------------|-----------------------------------------------------------------------|
 * | j, ↓           | select the next (older) task; past the last, the first                |
 * | k, ↑           | select the previous (newer) task; before the first, the last          |
 * | i, Enter       | the selected task's details (args, kwargs, state, result, runtime...) |
 * | t              | its traceback (FAILURE, RETRY, REVOKED; a bell otherwise)             |
 * | r              | its result (or exception)                                             |
 * | c              | revoke it (`app.control.revoke`), showing each worker's reply        |
 * | l              | a new rate limit for its task name, typed at the prompt (Esc cancels) |
 * | q, Ctrl-C      | quit (Celery: Ctrl-C only)                                            |
 *
 * A detail screen closes with any key. Unlike Celery, the first j/k with no task selected selects the
 * newest task (Celery's first j skips it, its first k selects the oldest).
 */
import { EXCEPTION_STATES } from '../../../protocol/states.ts';
import type { TaskState } from '../../events/state.ts';

export interface ReplyLine {
  host: string;
  text: string;
  ok: boolean;
}

export type Alert =
  | { kind: 'info' | 'traceback' | 'result'; uuid: string }
  | { kind: 'replies'; title: string; replies: ReplyLine[] | null; deadline: number };

export interface UiState {
  /** The selected task's uuid. */
  selected: string | null;
  /** A detail screen over the main one. */
  alert: Alert | null;
  /** The rate limit prompt. */
  prompt: { label: string; buffer: string; taskName: string } | null;
}

export const INITIAL_UI: UiState = { selected: null, alert: null, prompt: null };

/** A key as Ink's `useInput` reports it. */
export interface KeyPress {
  input: string;
  upArrow?: boolean;
  downArrow?: boolean;
  return?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
}

/** What the key asks of the outside world. */
export type Effect =
  | { kind: 'quit' }
  | { kind: 'beep' }
  | { kind: 'revoke'; uuid: string }
  | { kind: 'rateLimit'; taskName: string; rate: string }
  | null;

export interface KeyContext {
  /** The uuids on screen, in order. */
  tasks: readonly string[];
  task(uuid: string): TaskState | undefined;
}

/** `move_selection(direction)`. */
function move(ui: UiState, direction: 1 | -1, tasks: readonly string[]): UiState {
  if (tasks.length === 0) return ui;
  const pos = ui.selected === null ? -1 : tasks.indexOf(ui.selected);
  if (pos < 0) return { ...ui, selected: tasks[0]! };
  const next = pos + direction;
  const selected = next >= tasks.length ? tasks[0]! : next < 0 ? tasks[tasks.length - 1]! : tasks[next]!;
  return { ...ui, selected };
}

/** The view's next state and effect for a key. */
export function onKey(ui: UiState, key: KeyPress, ctx: KeyContext): { ui: UiState; effect: Effect } {
  const same = { ui, effect: null };
  if (key.ctrl && key.input.toLowerCase() === 'c') return { ui, effect: { kind: 'quit' } };
  if (ui.alert) return { ui: { ...ui, alert: null }, effect: null }; // "Press any key to continue..."
  if (ui.prompt) {
    const p = ui.prompt;
    if (key.escape) return { ui: { ...ui, prompt: null }, effect: null };
    if (key.return) {
      const rate = p.buffer.trim();
      return { ui: { ...ui, prompt: null }, effect: rate ? { kind: 'rateLimit', taskName: p.taskName, rate } : null };
    }
    if (key.backspace || key.delete) return { ui: { ...ui, prompt: { ...p, buffer: p.buffer.slice(0, -1) } }, effect: null };
    if (key.input && !key.ctrl) return { ui: { ...ui, prompt: { ...p, buffer: p.buffer + key.input } }, effect: null };
    return same;
  }
  const k = key.input.toUpperCase();
  if (key.downArrow || k === 'J') return { ui: move(ui, 1, ctx.tasks), effect: null };
  if (key.upArrow || k === 'K') return { ui: move(ui, -1, ctx.tasks), effect: null };
  if (k === 'Q') return { ui, effect: { kind: 'quit' } };
  const task = ui.selected ? ctx.task(ui.selected) : undefined;
  if (key.return || k === 'I') {
    return ui.selected ? { ui: { ...ui, alert: { kind: 'info', uuid: ui.selected } }, effect: null } : same;
  }
  if (k === 'T') {
    if (!ui.selected || !task || !EXCEPTION_STATES.has(task.state)) return { ui, effect: { kind: 'beep' } };
    return { ui: { ...ui, alert: { kind: 'traceback', uuid: ui.selected } }, effect: null };
  }
  if (k === 'R') {
    return ui.selected ? { ui: { ...ui, alert: { kind: 'result', uuid: ui.selected } }, effect: null } : same;
  }
  if (k === 'C') {
    return ui.selected ? { ui, effect: { kind: 'revoke', uuid: ui.selected } } : { ui, effect: { kind: 'beep' } };
  }
  if (k === 'L') {
    const name = task?.name;
    if (!name) return { ui, effect: { kind: 'beep' } };
    return { ui: { ...ui, prompt: { label: 'New rate limit:', buffer: '', taskName: name } }, effect: null };
  }
  return same;
}

/** The lines of a remote control reply (`[{host: {ok: ...} | {error: ...}}]`), as Celery shows them. */
export function replyLines(replies: unknown): ReplyLine[] | null {
  if (!Array.isArray(replies)) return null;
  const out: ReplyLine[] = [];
  for (const r of replies) {
    if (r === null || typeof r !== 'object') continue;
    for (const [host, answer] of Object.entries(r as Record<string, unknown>)) {
      const a = (answer ?? {}) as Record<string, unknown>;
      if ('error' in a) out.push({ host, text: String(a.error), ok: false });
      else if ('ok' in a) out.push({ host, text: String(a.ok), ok: true });
      else out.push({ host, text: '', ok: true });
    }
  }
  return out;
}
