/**
 * The screens of the live view as lines of styled text, from the State and the view's own state (pure:
 * no terminal, no React). Celery's curses monitor (celery/events/cursesmon.py) is the model:
 *
 *   celeriac events 0.1.0
 *
 *   UUID                                 WORKER            TASK               TIME     RUNTIME  STATE
 *   5f478fc3-2c6d-4ee0-905d-fdf4e34d1635 ts@host           proj.add           02:27:15 0.05s    SUCCESS
 *   ...
 *   ──────────────────────────────────────────────────────────────
 *   Selected: args=[2, 3] kwargs={} retries=0 result=5 runtime=0.05 root_id=... -> key i
 *   WORKER            STATUS   ACTIVE PROCESSED LOADAVG            SOFTWARE
 *   py@host           ONLINE        0         2 0.52 0.41 0.30     py-celery 5.6.3
 *   Info: events: 42 tasks:2 workers:2/2
 *   Keys: j:down k:up i:info t:traceback r:result c:revoke l:rate limit q:quit
 *
 * Task rows are newest first (`State.tasksByTime`), Celery's column widths (`format_row`) plus a
 * RUNTIME column; the state is coloured as Celery colours it (SUCCESS green, STARTED yellow,
 * FAILURE/RETRY/REVOKED red), the selected row inverse. The times are UTC, as Celery shows them.
 * Workers are the State's, ONLINE while their heartbeats have not expired, OFFLINE in red otherwise.
 */
import { EXCEPTION_STATES, FAILURE, STARTED, SUCCESS } from '../../../protocol/states.ts';
import type { PyValue } from '../../../protocol/values.ts';
import type { State, TaskState, WorkerState } from '../../events/state.ts';
import { fieldStr } from './dump.ts';
import type { Alert, UiState } from './keys.ts';

export interface Segment {
  text: string;
  color?: 'red' | 'green' | 'yellow' | 'magenta' | 'blue' | 'cyan' | 'gray';
  bold?: boolean;
  dim?: boolean;
  inverse?: boolean;
  underline?: boolean;
}
export type Line = Segment[];

/** `BORDER_SPACING`, and Celery's column widths. */
const LEFT = 1;
const UUID_WIDTH = 36;
const STATE_WIDTH = 8;
const TIMESTAMP_WIDTH = 8;
const RUNTIME_WIDTH = 8;
const MIN_WORKER_WIDTH = 15;
const MIN_TASK_WIDTH = 16;

export const HELP = 'j:down k:up i:info t:traceback r:result c:revoke l:rate limit q:quit';

/** `celery.utils.text.abbr` (Python's slicing, negative ends included). */
export function abbr(s: string | null, max: number, ellipsis: string | false = '...'): string {
  if (s === null) return '???';
  if (s.length <= max) return s;
  return typeof ellipsis === 'string' && ellipsis ? s.slice(0, max - ellipsis.length) + ellipsis : s.slice(0, max);
}

/** `celery.utils.text.abbrtask`: `proj.tasks.add` → `proj.t[.]add` when too long. */
export function abbrtask(s: string | null, max: number): string {
  if (s === null) return '???';
  if (s.length <= max) return s;
  const dot = s.lastIndexOf('.');
  const module = dot < 0 ? '' : s.slice(0, dot);
  const cls = s.slice(dot + 1);
  return abbr(module, max - cls.length - 3, false) + '[.]' + cls;
}

/** Pads or cuts to exactly `width` characters. */
function fit(s: string, width: number): string {
  return s.length >= width ? s.slice(0, Math.max(0, width)) : s.padEnd(width);
}

/** `format_row`: uuid, worker, task, time, runtime, state in Celery's widths for `width` columns. */
export function formatRow(width: number, uuid: string, task: string | null, worker: string, time: string, runtime: string, state: string): string {
  let detail = width - 1 - STATE_WIDTH - 1 - TIMESTAMP_WIDTH - 1 - RUNTIME_WIDTH;
  const uuidSpace = detail - 1 - MIN_TASK_WIDTH - 1 - MIN_WORKER_WIDTH;
  const uuidWidth = Math.max(0, Math.min(uuidSpace, UUID_WIDTH));
  detail = detail - uuidWidth - 1;
  const taskWidth = Math.ceil(detail / 2);
  const workerWidth = detail - taskWidth - 1;
  const row = [
    abbr(uuid, uuidWidth).padEnd(uuidWidth), abbr(worker, workerWidth).padEnd(workerWidth), abbrtask(task, taskWidth).padEnd(taskWidth),
    time.padEnd(TIMESTAMP_WIDTH), runtime.padEnd(RUNTIME_WIDTH), abbr(state, STATE_WIDTH).padEnd(STATE_WIDTH),
  ].join(' ');
  return row.slice(0, width);
}

/** `state_colors`: exception states red (REVOKED too: Celery's loop overrides its magenta). */
export function stateColor(state: string): Segment['color'] {
  if (EXCEPTION_STATES.has(state)) return 'red';
  if (state === SUCCESS) return 'green';
  if (state === STARTED) return 'yellow';
  return undefined;
}

/** HH:MM:SS (UTC) of a timestamp, as Celery's `utcfromtimestamp(...).strftime('%H:%M:%S')`. */
export function clockTime(ts: number): string {
  return new Date(Math.floor(ts) * 1000).toISOString().slice(11, 19);
}

/** `n.nns` for a runtime. */
function runtimeText(rt: number | null): string {
  return rt === null ? '' : `${rt.toFixed(rt < 10 ? 3 : 1)}s`;
}

/**
 * The newest `count` tasks (`tasks_by_time`; Celery passes the row count as its limit of events, which
 * fills only part of the screen when tasks have several events each).
 */
export function visibleTasks(state: State, count: number): TaskState[] {
  const out: TaskState[] = [];
  if (count <= 0) return out;
  for (const [, t] of state.tasksByTime()) {
    out.push(t);
    if (out.length >= count) break;
  }
  return out;
}

export interface ViewModel {
  state: State;
  ui: UiState;
  width: number;
  height: number;
  /** Seconds since the epoch. */
  now: number;
  title: string;
  /** A line about the connection (an error), shown in the Info line. */
  status?: string | null;
}

const blank = (): Line => [{ text: '' }];

/** The worker rows' layout. */
function workerLine(w: WorkerState, width: number): Line {
  const host = fit(abbr(w.hostname, 26), 26);
  const alive = w.alive;
  const load = w.loadavg ? w.loadavg.map((x) => x.toFixed(2)).join(' ') : '';
  const soft = [w.sw_ident, w.sw_ver].filter(Boolean).join(' ');
  const rest = ` ${String(w.active ?? '').padStart(6)} ${String(w.processed ?? '').padStart(9)} ${fit(load, 16)} ${soft}`;
  return [
    { text: host + ' ' },
    { text: fit(alive ? 'ONLINE' : 'OFFLINE', 8), color: alive ? 'green' : 'red', bold: !alive },
    { text: rest.slice(0, Math.max(0, width - 36)) },
  ];
}

/** The rows the workers table takes (its header included). */
function workerRows(count: number, height: number): number {
  if (count === 0) return 1;
  return 1 + Math.min(count, Math.max(1, Math.floor((height - 10) / 3)));
}

/** How many task rows the main screen has. */
function taskRows(state: State, height: number): number {
  return Math.max(0, height - 8 - workerRows(state.workers.size, height));
}

/** The tasks the main screen shows for `height` lines, top to bottom (what j/k move through). */
export function screenTasks(state: State, height: number): TaskState[] {
  return visibleTasks(state, taskRows(state, height));
}

/** `info()` of the selected task, in Celery's footer form. */
function selectedText(task: TaskState): string {
  const info: Record<string, PyValue> = task.info();
  if (typeof info.runtime === 'number') info.runtime = info.runtime.toFixed(2);
  if (typeof info.result === 'string') info.result = abbr(info.result, 16);
  return Object.entries(info).map(([k, v]) => `${k}=${fieldStr(k, v)}`).join(' ');
}

/** The main screen: exactly `height` lines of at most `width` characters. */
export function mainScreen(vm: ViewModel): Line[] {
  const { state, ui, width, height } = vm;
  const inner = Math.max(10, width - 2 * LEFT);
  const workers = [...state.workers.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  const wRows = workerRows(workers.length, height);
  const taskRoom = taskRows(state, height);
  const tasks = visibleTasks(state, taskRoom);
  const pad = (line: Line): Line => [{ text: ' '.repeat(LEFT) }, ...line];
  const lines: Line[] = [];
  lines.push([{ text: vm.title, color: 'blue', dim: true }]);
  lines.push(blank());
  lines.push([{ text: fit(formatRow(inner, 'UUID', 'TASK', 'WORKER', 'TIME', 'RUNTIME', 'STATE'), inner), bold: true, underline: true }]);
  for (let i = 0; i < taskRoom; i++) {
    const t = tasks[i];
    if (!t) {
      lines.push(blank());
      continue;
    }
    const selected = t.uuid === ui.selected;
    const row = formatRow(inner, t.uuid, t.name, t.worker?.hostname ?? '*NONE*', clockTime(t.timestamp ?? vm.now), runtimeText(t.runtime), t.state);
    const head = row.slice(0, Math.max(0, row.length - STATE_WIDTH));
    lines.push([
      { text: head, inverse: selected },
      { text: fit(abbr(t.state, STATE_WIDTH), STATE_WIDTH), color: stateColor(t.state), bold: t.state === FAILURE, inverse: selected },
    ]);
  }
  lines.push([{ text: '─'.repeat(inner), dim: true }]);
  // the selected task
  const sel = ui.selected ? state.tasks.get(ui.selected) : undefined;
  if (ui.prompt) {
    lines.push([{ text: ui.prompt.label, bold: true, underline: true }, { text: ' ' + ui.prompt.buffer + '█' }]);
  } else if (ui.selected) {
    const label = 'Selected: ';
    const detail = '... -> key i';
    const text = sel ? abbr(selectedText(sel), inner - label.length - 2, detail) : 'Missing extended info';
    const segs: Line = [{ text: label, bold: true }];
    if (sel && text.endsWith(detail)) segs.push({ text: text.slice(0, -detail.length) }, { text: detail, bold: true });
    else segs.push({ text });
    lines.push(segs);
  } else {
    lines.push([{ text: 'No task selected' }]);
  }
  // workers
  if (workers.length === 0) {
    lines.push([{ text: 'No workers discovered.' }]);
  } else {
    lines.push([{ text: fit(`${'WORKER'.padEnd(26)} ${'STATUS'.padEnd(8)} ${'ACTIVE'.padStart(6)} ${'PROCESSED'.padStart(9)} ${'LOADAVG'.padEnd(16)} SOFTWARE`, inner), bold: true }]);
    const shown = workers.slice(0, wRows - 1);
    for (const w of shown) lines.push(workerLine(w, inner));
  }
  const alive = workers.filter((w) => w.alive).length;
  const info = `events: ${state.eventCount} tasks:${state.taskCount} workers:${alive}/${state.workers.size}`;
  lines.push([{ text: 'Info: ', bold: true }, { text: info, dim: true }, ...(vm.status ? [{ text: `  ${vm.status}`, color: 'red' as const }] : [])]);
  lines.push([{ text: 'Keys: ', bold: true }, { text: HELP, dim: true }]);
  return lines.slice(0, height).map((l, i) => (i === 0 ? pad(l) : pad(clip(l, inner))));
}

/** Cuts a line's segments to `width` characters. */
function clip(line: Line, width: number): Line {
  const out: Line = [];
  let left = width;
  for (const s of line) {
    if (left <= 0) break;
    out.push(s.text.length > left ? { ...s, text: s.text.slice(0, left) } : s);
    left -= s.text.length;
  }
  return out;
}

/** Wraps text as Python's `textwrap.wrap` does for plain words (long words broken). */
export function wrap(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let rest = word;
    while (rest.length > w) {
      if (cur) {
        out.push(cur);
        cur = '';
      }
      out.push(rest.slice(0, w));
      rest = rest.slice(w);
    }
    if (!cur) cur = rest;
    else if (cur.length + 1 + rest.length <= w) cur += ' ' + rest;
    else {
      out.push(cur);
      cur = rest;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** A task detail screen (`i`, `t`, `r`) or the replies of a remote control command. */
export function alertScreen(vm: ViewModel, alert: Alert): Line[] {
  const inner = Math.max(10, vm.width - 2 * LEFT);
  const body: Line[] = [];
  let title: string;
  if (alert.kind === 'replies') {
    title = alert.title;
    if (!alert.replies || alert.replies.length === 0) {
      body.push([{ text: `No replies received in ${alert.deadline}s deadline.`, bold: true, color: 'red' }]);
    } else {
      for (const r of alert.replies) body.push([{ text: `${r.host}: `, bold: true }, { text: r.text, color: r.ok ? 'green' : 'red' }]);
    }
  } else {
    const task = vm.state.tasks.get(alert.uuid);
    if (alert.kind === 'info') {
      title = `Task details for ${alert.uuid}`;
      const info = task ? task.info(undefined, ['state']) : {};
      const items: [string, PyValue][] = [['args', info.args ?? null], ['kwargs', info.kwargs ?? null]];
      delete info.args;
      delete info.kwargs;
      items.push(...Object.entries(info));
      for (const [key, value] of items) {
        const label = `${key}: `;
        const text = fieldStr(key, value);
        const wrapped = wrap(text, inner - 2);
        if (wrapped.length <= 1) body.push([{ text: label, bold: true }, { text: abbr(wrapped[0] ?? '', inner - label.length) }]);
        else {
          body.push([{ text: label, bold: true }]);
          for (const sub of wrapped) body.push([{ text: abbr('    ' + sub, inner) }]);
        }
      }
    } else if (alert.kind === 'traceback') {
      title = `Task Exception Traceback for ${alert.uuid}`;
      for (const line of (task?.traceback ?? '').split('\n')) body.push([{ text: line }]);
    } else {
      title = `Task Result for ${alert.uuid}`;
      const result = task?.result || task?.exception || '';
      for (const line of wrap(result, inner - 2)) body.push([{ text: line }]);
    }
  }
  const room = Math.max(0, vm.height - 4);
  const shown = body.length > room ? [...body.slice(0, Math.max(0, room - 1)), [{ text: '    [...]' }]] : body;
  const lines: Line[] = [blank(), [{ text: title, bold: true, underline: true }], blank(), ...shown];
  while (lines.length < vm.height - 1) lines.push(blank());
  lines.push([{ text: 'Press any key to continue...', bold: true }]);
  return lines.slice(0, vm.height).map((l) => [{ text: ' '.repeat(LEFT) }, ...clip(l, inner)]);
}

/** The screen for the view's state. */
export function screen(vm: ViewModel): Line[] {
  return vm.ui.alert ? alertScreen(vm, vm.ui.alert) : mainScreen(vm);
}
