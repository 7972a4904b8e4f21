/**
 * What `celeriac call --wait` and `celeriac result --wait` show on stderr while a task runs: each state
 * it goes through, from the records the result backend delivers (`waitForReady`'s `onMessage`).
 *
 * Plain lines (stderr not a terminal, or TERM=dumb), one per state change:
 *
 *     task 1f2e3d4c…: PENDING
 *     task 1f2e3d4c…: STARTED on celery@host (pid 42)
 *     task 1f2e3d4c…: RETRY in 5s: ValueError('flaky')
 *     task 1f2e3d4c…: PROGRESS 3/10 (30%)
 *
 * On a terminal the same lines, except that a state whose meta has a numeric `current` (Celery's usual
 * `update_state(state='PROGRESS', meta={'current': i, 'total': n})`) is drawn as one live line with a
 * bar (cli-progress), the percentage, current/total and the time waited, which `done()` clears before
 * the result is printed. READY states (SUCCESS, FAILURE, REVOKED) print nothing: the command prints
 * the outcome itself.
 *
 * PENDING is never stored by Celery; it is shown when no record has arrived `pendingAfterMs` after the
 * wait began (a task that starts at once shows no PENDING line). Repeated identical lines are dropped
 * (again at most every `repeatMs`), and lines of one state that keep changing (PROGRESS 3/10, 4/10...)
 * are printed at most every `throttleMs`, the latest one when the interval is over.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { ResultMeta } from '../../protocol/result.ts';
import { stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { PENDING, READY_STATES, RETRY, STARTED, UNREADY_STATES } from '../../protocol/states.ts';
import { isPlainObject, type PyValue } from '../../protocol/values.ts';

export interface StateReporterOptions {
  /** Where the states go (the CLI passes `process.stderr`). */
  stream: NodeJS.WriteStream | Writable;
  /** Draw the live bar (cursor movements) instead of plain lines. Default: the stream is a TTY and TERM is not `dumb`. */
  tty?: boolean;
  taskId: string;
  /** Show nothing. */
  quiet?: boolean;
  /** Clock in ms (for tests); default `Date.now`. */
  now?: () => number;
  /** Show PENDING when no record arrived within this many ms; `null`: never. Default 1000. */
  pendingAfterMs?: number | null;
  /** Lines of the same state that keep changing: at most one per this many ms (the latest wins). Default 500. */
  throttleMs?: number;
  /** An identical line is shown again at most this often (ms). Default 60000. */
  repeatMs?: number;
}

export interface StateReporter {
  /** Show a record (bound: pass it as `onMessage` as is). Never throws. */
  update(meta: ResultMeta): void;
  /** Stop: clear the live bar and the timers. Call it before printing the result, also when the wait failed. */
  done(): void;
}

/** A state's `{current, total}` meta, read leniently. */
export interface ProgressInfo {
  current: number;
  /** null when missing or not a number. */
  total: number | null;
  /** 0..100 (floored, clamped), or null without a positive total. */
  percent: number | null;
  /** A `status` or `message` string of the meta, if any (as in `{'current': 3, 'total': 10, 'status': 'resizing'}`). */
  note: string | null;
}

const MAX_DETAIL = 160;

/** A finite number from a number, a bigint or a numeric string; else null. */
function numeric(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
  return String(Number(n.toFixed(2)));
}

/** Control characters (a task's meta is arbitrary data) would move the cursor or end the line. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function truncate(text: string, max: number): string {
  if (max <= 1) return text.slice(0, Math.max(0, max));
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/** A meta value on one line: strings as they are, anything else as (kombu) JSON. */
function detail(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return stringifyKombuJson(value as PyValue);
  } catch {
    try {
      return String(value);
    } catch {
      return '?';
    }
  }
}

/** `{current, total}` progress of a custom state's meta, or null when `current` is not a number. */
export function progressOf(meta: ResultMeta): ProgressInfo | null {
  if (UNREADY_STATES.has(meta.status) || READY_STATES.has(meta.status)) return null;
  const m = meta.result;
  if (!isPlainObject(m)) return null;
  const current = numeric(m['current']);
  if (current === null) return null;
  const total = numeric(m['total']);
  const percent = total !== null && total > 0 ? Math.min(100, Math.max(0, Math.floor((current / total) * 100))) : null;
  const note = typeof m['status'] === 'string' ? m['status'] : typeof m['message'] === 'string' ? m['message'] : null;
  return { current, total, percent, note };
}

/** `3/10 (30%)`, `3/0`, `3`, plus the note. */
function progressText(p: ProgressInfo): string {
  let text = p.total === null ? formatNumber(p.current) : `${formatNumber(p.current)}/${formatNumber(p.total)}`;
  if (p.percent !== null) text += ` (${p.percent}%)`;
  if (p.note) text += ` ${p.note}`;
  return text;
}

/**
 * `Retry in 5s`, `Retry at <eta>` and the error after it: the last line of a RETRY record's traceback
 * (Celery's `Retry.__str__`: `celery.exceptions.Retry: Retry in 5s: ValueError('x')`; celeriac's worker
 * writes the same line).
 */
function retryText(meta: ResultMeta): string {
  const lines = typeof meta.traceback === 'string' ? meta.traceback.trimEnd().split('\n') : [];
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(?:celery\.exceptions\.)?Retry: (.*)$/.exec(lines[i]!.trim());
    if (!m) continue;
    const when = /^Retry (in \S+|at .+?)(?:: (.*))?$/.exec(m[1]!);
    if (when) return when[2] ? `${when[1]}: ${when[2]}` : when[1]!;
    if (m[1]) return `: ${m[1]}`; // a custom retry message
    break;
  }
  const exc = meta.result;
  if (isPlainObject(exc) && typeof exc['exc_type'] === 'string') {
    const args = exc['exc_message'];
    const message = Array.isArray(args) ? (args.length === 1 && typeof args[0] === 'string' ? args[0] : args.map((a) => detail(a)).join(', ')) : args == null ? '' : detail(args);
    return `: ${exc['exc_type']}${message ? `: ${message}` : ''}`;
  }
  return '';
}

/** One line for a record (without the `task <id>: ` prefix). */
export function describeState(meta: ResultMeta): string {
  const status = typeof meta.status === 'string' && meta.status !== '' ? meta.status : '?';
  let text: string;
  if (status === STARTED) {
    const r = isPlainObject(meta.result) ? meta.result : {};
    const host = typeof r['hostname'] === 'string' && r['hostname'] ? ` on ${r['hostname']}` : '';
    const pid = numeric(r['pid']);
    text = `${status}${host}${pid === null ? '' : ` (pid ${formatNumber(pid)})`}`;
  } else if (status === RETRY) {
    const why = retryText(meta);
    text = why.startsWith(':') ? `${status}${why}` : why ? `${status} ${why}` : status;
  } else if (status === PENDING || READY_STATES.has(status)) {
    text = status;
  } else {
    const p = progressOf(meta);
    if (p) text = `${status} ${progressText(p)}`;
    else text = meta.result === null || meta.result === undefined ? status : `${status} ${truncate(detail(meta.result), MAX_DETAIL)}`;
  }
  return clean(text);
}

/** `0:04`, `12:34`, `1:02:03`. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** `task 1f2e3d4c…` (ids longer than 9 characters are cut to 8). */
function label(taskId: string): string {
  const id = clean(taskId);
  return `task ${id.length > 9 ? `${id.slice(0, 8)}…` : id}`;
}

/** Bar width bounds (columns); the bar takes what the line leaves within them. */
const BAR_MIN = 10;
const BAR_MAX = 40;

/**
 * cli-progress' bar, whose redraw timer does not keep the process alive: a wait that ends without
 * `done()` (a thrown error, a forgotten call) must not leave the command hanging on it. While the wait
 * runs, its own connection keeps the process up and the bar redraws as usual.
 */
class Bar extends cliProgress.SingleBar {
  override render(): void {
    super.render();
    (this as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref?.();
  }
}

export function createStateReporter(options: StateReporterOptions): StateReporter {
  const { stream, taskId } = options;
  const now = options.now ?? Date.now;
  const throttleMs = options.throttleMs ?? 500;
  const repeatMs = options.repeatMs ?? 60_000;
  const pendingAfterMs = options.pendingAfterMs === undefined ? 1000 : options.pendingAfterMs;
  const tty = options.tty ?? ((stream as NodeJS.WriteStream).isTTY === true && process.env['TERM'] !== 'dumb');
  const prefix = `${label(taskId)}: `;
  const started = now();

  let finished = options.quiet === true;
  let seen = false;
  let lastLine: string | null = null;
  let lastStatus: string | null = null;
  let lastAt = -Infinity;
  /** A line held back by the throttle, printed when its interval is over. */
  let held: { line: string; status: string } | null = null;
  let heldTimer: NodeJS.Timeout | undefined;
  let pendingTimer: NodeJS.Timeout | undefined;

  // the live bar (terminal only)
  let bar: Bar | null = null;
  let barState: { status: string; progress: ProgressInfo } | null = null;
  let seq = 0;

  /** Writes never throw: showing a state must not break the wait (nor a timer's callback). */
  const emit = (chunk: string): boolean => {
    try {
      return stream.write(chunk);
    } catch {
      return false;
    }
  };

  const write = (line: string): void => {
    lastLine = line;
    lastAt = now();
    emit(prefix + line + '\n');
  };

  const flushHeld = (): void => {
    if (heldTimer) clearTimeout(heldTimer);
    heldTimer = undefined;
    const h = held;
    held = null;
    if (h && !finished && h.line !== lastLine) write(h.line);
  };

  /** Plain-line rules: identical lines dropped, changing lines of one state throttled. */
  const line = (status: string, text: string): void => {
    const t = now();
    if (text === lastLine && t - lastAt < repeatMs) {
      held = null;
      return;
    }
    if (status === lastStatus && t - lastAt < throttleMs) {
      held = { line: text, status };
      if (!heldTimer) {
        heldTimer = setTimeout(flushHeld, Math.max(0, throttleMs - (t - lastAt)));
        heldTimer.unref?.();
      }
      return;
    }
    // a new state: the line held back goes first (the log then shows how far the last state got)
    flushHeld();
    lastStatus = status;
    write(text);
  };

  const barLine = (params: { maxWidth?: number }, opts: cliProgress.Options): string => {
    const s = barState;
    if (!s) return '';
    const p = s.progress;
    // one column short of the width: a full line would wrap on some terminals
    const width = Math.max(20, (params.maxWidth || 80) - 1);
    const head = `${prefix}${clean(s.status)} `;
    const values = p.total === null ? formatNumber(p.current) : `${formatNumber(p.current)}/${formatNumber(p.total)}`;
    const tail = ` | ${formatElapsed(now() - started)}${p.note ? ` ${clean(p.note)}` : ''}`;
    if (p.percent === null || p.total === null) return truncate(head + values + tail, width);
    const numbers = `${String(p.percent).padStart(3)}% ${values}`;
    // the bar takes the room the text leaves, within 10..40 columns
    const room = width - head.length - numbers.length - tail.length - 3;
    const size = Math.min(BAR_MAX, Math.max(BAR_MIN, room));
    const fraction = Math.min(1, Math.max(0, p.current / p.total));
    const drawn = cliProgress.Format.BarFormat(fraction, { ...opts, barsize: size });
    return truncate(`${head}[${drawn}] ${numbers}${tail}`, width);
  };

  const stopBar = (): void => {
    if (!bar) return;
    const b = bar;
    bar = null;
    barState = null;
    b.stop();
  };

  const drawBar = (status: string, progress: ProgressInfo): void => {
    barState = { status, progress };
    lastStatus = status;
    lastLine = null;
    if (bar) {
      bar.update({ seq: ++seq });
      return;
    }
    // cli-progress draws only on a TTY stream; `tty` may say so of a stream that is not one (tests, a pipe)
    const surface = {
      isTTY: true,
      get columns(): number {
        return (stream as NodeJS.WriteStream).columns || 80;
      },
      write: emit,
    };
    bar = new Bar({
      stream: surface as unknown as NodeJS.WritableStream,
      format: (opts, params) => barLine(params, opts),
      barsize: BAR_MAX,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      clearOnComplete: true,
      hideCursor: false, // a hidden cursor stays hidden if the process is killed
      linewrap: true, // no wrap-mode escapes to restore; lines are cut to the width instead
      gracefulExit: false, // cli-progress' SIGINT handler would keep Ctrl-C from ending the wait
      fps: 5,
    });
    bar.start(1, 0, { seq: ++seq });
  };

  const show = (meta: ResultMeta): void => {
    const status = typeof meta.status === 'string' ? meta.status : String(meta.status);
    if (READY_STATES.has(status)) {
      stopBar();
      flushHeld();
      return;
    }
    if (tty) {
      const p = progressOf(meta);
      if (p) return drawBar(status, p);
      stopBar();
    }
    line(status, describeState(meta));
  };

  const update = (meta: ResultMeta): void => {
    if (finished) return;
    try {
      seen = true;
      if (pendingTimer) clearTimeout(pendingTimer);
      pendingTimer = undefined;
      show(meta);
    } catch {
      // showing a state must never break the wait
    }
  };

  const done = (): void => {
    if (pendingTimer) clearTimeout(pendingTimer);
    if (heldTimer) clearTimeout(heldTimer);
    pendingTimer = heldTimer = undefined;
    held = null;
    if (finished) return;
    finished = true;
    try {
      stopBar();
    } catch {
      // nothing more to clear
    }
  };

  if (!finished && pendingAfterMs !== null) {
    pendingTimer = setTimeout(() => {
      pendingTimer = undefined;
      if (seen || finished) return;
      try {
        line(PENDING, PENDING);
      } catch {
        // as in update
      }
    }, pendingAfterMs);
    pendingTimer.unref?.();
  }

  return { update, done };
}
