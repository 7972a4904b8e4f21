// The state reporter of `celeriac call --wait` / `result --wait` (src/cli/progress.ts): the plain lines
// it writes when stderr is not a terminal, the bar it draws and clears on one, and odd metas.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createStateReporter, describeState, formatElapsed, progressOf, type StateReporter, type StateReporterOptions } from '../../src/cli/progress.ts';
import type { ResultMeta } from '../../protocol/result.ts';

const ID = '8ae3649c-dbb7-4a78-9fbf-b392a3c459c6';
const P = 'task 8ae3649c…: ';

function meta(status: string, result: unknown = null, traceback: string | null = null): ResultMeta {
  return { status, result: result as ResultMeta['result'], traceback, children: [], date_done: null, task_id: ID };
}

/** The records Celery 5.6.3 stored for progress_tasks.py (test/python) on Redis, trimmed. */
const STARTED_META = meta('STARTED', { pid: 10291, hostname: 'celery@vm' });
const RETRY_PLAIN = meta('RETRY', null,
  'Traceback (most recent call last):\n  File "progress_tasks.py", line 39, in retry_once\n    raise self.retry(countdown=countdown)\n' +
  '  File "celery/app/task.py", line 790, in retry\n    raise ret\ncelery.exceptions.Retry: Retry in 1s\n');
const RETRY_EXC = meta('RETRY', { exc_type: 'FlakyError', exc_message: ['first attempt', 5], exc_module: 'progress_tasks' },
  'Traceback (most recent call last):\n  File "celery/app/task.py", line 790, in retry\n    raise ret\n' +
  "celery.exceptions.Retry: Retry in 1s: FlakyError('first attempt', 5)\n");
const progress = (current: unknown, total?: unknown) => meta('PROGRESS', total === undefined ? { current } : { current, total });

/** A stream that keeps what is written; `isTTY`/`columns` as a terminal's when asked. */
class Capture extends Writable {
  text = '';
  writes = 0;
  isTTY?: boolean;
  columns?: number;
  constructor(tty?: { columns: number }) {
    super();
    if (tty) {
      this.isTTY = true;
      this.columns = tty.columns;
    }
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    this.writes++;
    cb();
  }
  override write(chunk: unknown, ...rest: unknown[]): boolean {
    // synchronous, as a TTY or a pipe's stderr is for a short write: the test reads `text` at once
    this.text += String(chunk);
    this.writes++;
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

/** Reporters made by a test: done() after each, so a failed assertion leaves no bar or timer running. */
const live: StateReporter[] = [];
function make(options: StateReporterOptions): StateReporter {
  const r = createStateReporter(options);
  live.push(r);
  return r;
}
const doneAll = () => {
  for (const r of live.splice(0)) r.done();
};

function reporter(stream: Capture, over: Partial<StateReporterOptions> = {}) {
  let t = 1_000_000;
  const r = make({ stream, taskId: ID, tty: false, pendingAfterMs: null, now: () => t, ...over });
  return { ...r, advance: (ms: number) => void (t += ms) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('plain lines (stderr not a terminal)', () => {
  afterEach(doneAll);

  test('a Python task that starts, reports progress, retries once and succeeds', () => {
    const out = new Capture();
    const r = reporter(out);
    r.update(STARTED_META);
    for (let i = 1; i <= 3; i++) {
      r.advance(1000);
      r.update(progress(i, 3));
    }
    r.advance(100);
    r.update(RETRY_EXC);
    r.advance(1000);
    r.update(STARTED_META);
    r.update(meta('SUCCESS', 10));
    r.done();
    assert.deepEqual(out.lines(), [
      `${P}STARTED on celery@vm (pid 10291)`,
      `${P}PROGRESS 1/3 (33%)`,
      `${P}PROGRESS 2/3 (66%)`,
      `${P}PROGRESS 3/3 (100%)`,
      `${P}RETRY in 1s: FlakyError('first attempt', 5)`,
      `${P}STARTED on celery@vm (pid 10291)`,
    ]);
    assert.ok(out.text.endsWith('\n'));
    assert.ok(!out.text.includes('\x1b'), 'no escape sequences in plain mode');
  });

  test('the first record is shown as it is: a task already in PROGRESS shows no PENDING or STARTED first', async () => {
    const out = new Capture();
    const r = reporter(out, { pendingAfterMs: 10 });
    r.update(progress(5, 10));
    await sleep(40);
    r.done();
    assert.deepEqual(out.lines(), [`${P}PROGRESS 5/10 (50%)`]);
  });

  test('PENDING after pendingAfterMs without any record, once; never after done()', async () => {
    const out = new Capture();
    const r = reporter(out, { pendingAfterMs: 10 });
    await sleep(50);
    r.update(STARTED_META);
    r.done();
    assert.deepEqual(out.lines(), [`${P}PENDING`, `${P}STARTED on celery@vm (pid 10291)`]);
    const quiet = new Capture();
    reporter(quiet, { pendingAfterMs: 10 }).done();
    await sleep(40);
    assert.equal(quiet.text, '');
  });

  test('identical lines are not repeated (again after repeatMs); a short task id is shown whole', () => {
    const out = new Capture();
    let t = 0;
    const r = make({ stream: out, taskId: 'job-1', tty: false, pendingAfterMs: null, now: () => t, repeatMs: 30_000 });
    r.update(STARTED_META);
    t += 5000;
    r.update(STARTED_META);
    r.update(progress(1, 2));
    t += 1000;
    r.update(progress(1, 2));
    t += 29_000;
    r.update(progress(1, 2));
    t += 1000;
    r.update(progress(1, 2));
    r.done();
    assert.deepEqual(out.lines(), ['task job-1: STARTED on celery@vm (pid 10291)', 'task job-1: PROGRESS 1/2 (50%)', 'task job-1: PROGRESS 1/2 (50%)']);
  });

  test('changes of one state faster than throttleMs: the latest is printed when the interval is over', async () => {
    const out = new Capture();
    // the clock stands still: only the timer that ends the interval lets a held line out
    const r = make({ stream: out, taskId: ID, tty: false, pendingAfterMs: null, throttleMs: 40, now: () => 5000 });
    r.update(progress(1, 100));
    r.update(progress(2, 100));
    r.update(progress(3, 100));
    assert.deepEqual(out.lines(), [`${P}PROGRESS 1/100 (1%)`]);
    await sleep(80);
    assert.deepEqual(out.lines(), [`${P}PROGRESS 1/100 (1%)`, `${P}PROGRESS 3/100 (3%)`]);
    // a held line goes out before the next state's, and before the end (SUCCESS prints nothing itself)
    r.update(progress(4, 100));
    r.update(progress(5, 100));
    r.update(meta('SUCCESS', 1));
    r.done();
    await sleep(60);
    assert.deepEqual(out.lines().slice(2), [`${P}PROGRESS 5/100 (5%)`]);
  });

  test('READY states print nothing (the command prints the outcome); quiet prints nothing at all', async () => {
    const out = new Capture();
    const r = reporter(out);
    for (const s of ['SUCCESS', 'FAILURE', 'REVOKED']) r.update(meta(s, s === 'SUCCESS' ? 1 : { exc_type: 'X', exc_message: [], exc_module: 'm' }));
    r.done();
    assert.equal(out.text, '');
    const q = new Capture();
    const rq = make({ stream: q, taskId: ID, quiet: true, pendingAfterMs: 1 });
    rq.update(STARTED_META);
    rq.update(progress(1, 2));
    await sleep(20);
    rq.done();
    assert.equal(q.text, '');
  });

  test('nothing after done(), and done() twice is harmless', () => {
    const out = new Capture();
    const r = reporter(out);
    r.done();
    r.update(STARTED_META);
    r.done();
    assert.equal(out.text, '');
  });

  test('update can be passed on its own as onMessage', () => {
    const out = new Capture();
    const { update, done } = reporter(out);
    const onMessage: (m: ResultMeta) => void = update;
    onMessage(STARTED_META);
    done();
    assert.equal(out.lines().length, 1);
  });
});

describe('state texts', () => {
  test('STARTED with what its meta has', () => {
    assert.equal(describeState(STARTED_META), 'STARTED on celery@vm (pid 10291)');
    assert.equal(describeState(meta('STARTED', { hostname: 'w1@h' })), 'STARTED on w1@h');
    assert.equal(describeState(meta('STARTED', { pid: 7 })), 'STARTED (pid 7)');
    assert.equal(describeState(meta('STARTED', null)), 'STARTED');
    assert.equal(describeState(meta('STARTED', 'odd')), 'STARTED');
  });

  test('RETRY: the countdown or eta from the traceback, the error when there is one', () => {
    assert.equal(describeState(RETRY_PLAIN), 'RETRY in 1s');
    assert.equal(describeState(RETRY_EXC), "RETRY in 1s: FlakyError('first attempt', 5)");
    assert.equal(describeState(meta('RETRY', null, 'Traceback...\ncelery.exceptions.Retry: Retry in 0.5s\n')), 'RETRY in 0.5s');
    assert.equal(
      describeState(meta('RETRY', null, 'celery.exceptions.Retry: Retry at 2026-12-06 20:17:29.427355+00:00: ValueError(1)\n')),
      'RETRY at 2026-12-06 20:17:29.427355+00:00: ValueError(1)',
    );
    // self.retry(message='...') replaces the text
    assert.equal(describeState(meta('RETRY', null, 'celery.exceptions.Retry: waiting for the API\n')), 'RETRY: waiting for the API');
    // no traceback: the stored exception
    assert.equal(describeState(meta('RETRY', { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' })), 'RETRY: ValueError: boom');
    assert.equal(describeState(meta('RETRY', { exc_type: 'E', exc_message: ['a', 2], exc_module: 'm' })), 'RETRY: E: a, 2');
    assert.equal(describeState(meta('RETRY')), 'RETRY');
  });

  test('custom states: progress from {current, total}, anything else as compact JSON', () => {
    assert.equal(describeState(progress(3, 10)), 'PROGRESS 3/10 (30%)');
    assert.equal(describeState(meta('PROGRESS', { current: 3, total: 10, status: 'resizing' })), 'PROGRESS 3/10 (30%) resizing');
    assert.equal(describeState(meta('UPLOADING', { current: 1, total: 4 })), 'UPLOADING 1/4 (25%)');
    assert.equal(describeState(meta('UPLOADING', { file: 'a.txt' })), 'UPLOADING {"file": "a.txt"}');
    assert.equal(describeState(meta('UPLOADING', 'a.txt')), 'UPLOADING a.txt');
    assert.equal(describeState(meta('UPLOADING')), 'UPLOADING');
    assert.equal(describeState(meta('PENDING')), 'PENDING');
  });

  test('odd progress metas print something sensible', () => {
    const cases: [unknown, string][] = [
      [{ current: 3 }, 'PROGRESS 3'],
      [{ current: 0, total: 0 }, 'PROGRESS 0/0'],
      [{ current: 12, total: 10 }, 'PROGRESS 12/10 (100%)'],
      [{ current: -3, total: 10 }, 'PROGRESS -3/10 (0%)'],
      [{ current: 3, total: -10 }, 'PROGRESS 3/-10'],
      [{ current: '3', total: '10' }, 'PROGRESS 3/10 (30%)'],
      [{ current: 3, total: 'lots' }, 'PROGRESS 3'],
      [{ current: 1.23456, total: 3.5 }, 'PROGRESS 1.23/3.5 (35%)'],
      [{ current: 10n ** 20n, total: 10n ** 21n }, 'PROGRESS 100000000000000000000/1000000000000000000000 (10%)'],
      [{ current: 'abc', total: 10 }, 'PROGRESS {"current": "abc", "total": 10}'],
      [{ current: NaN }, 'PROGRESS {"current": NaN}'],
      [{ current: Infinity, total: 3 }, 'PROGRESS {"current": Infinity, "total": 3}'],
      [{ current: null, total: null }, 'PROGRESS {"current": null, "total": null}'],
      [[1, 2], 'PROGRESS [1, 2]'],
      [null, 'PROGRESS'],
    ];
    for (const [result, want] of cases) assert.equal(describeState(meta('PROGRESS', result)), want, JSON.stringify(String(result)));
  });

  test('what a task stores cannot move the cursor or break the line, and long metas are cut', () => {
    const evil = describeState(meta('PROGRESS', 'a\x1b[2Jb\nc\r\td'));
    assert.equal(evil, 'PROGRESS a?[2Jb c d');
    const long = describeState(meta('PROGRESS', { big: 'x'.repeat(1000) }));
    assert.ok(long.length <= 200 && long.endsWith('…'), long);
    assert.equal(describeState(meta('STARTED', { hostname: 'h\x1b]0;title\x07', pid: 1 })), 'STARTED on h?]0;title? (pid 1)');
    assert.equal(describeState({ ...meta('x'), status: undefined as unknown as string }), '?');
  });

  test('progressOf: only custom states with a numeric current', () => {
    assert.deepEqual(progressOf(progress(3, 10)), { current: 3, total: 10, percent: 30, note: null });
    assert.equal(progressOf(meta('STARTED', { current: 1, total: 2 })), null);
    assert.equal(progressOf(meta('SUCCESS', { current: 1, total: 2 })), null);
    assert.equal(progressOf(progress('x', 2)), null);
  });

  test('formatElapsed', () => {
    assert.equal(formatElapsed(0), '0:00');
    assert.equal(formatElapsed(4999), '0:04');
    assert.equal(formatElapsed(754_000), '12:34');
    assert.equal(formatElapsed(3_723_000), '1:02:03');
    assert.equal(formatElapsed(-5), '0:00');
  });
});

describe('a terminal: the progress bar', () => {
  afterEach(doneAll);
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '');

  test('PROGRESS {current, total} is drawn as a bar (percent, current/total, elapsed), cleared by done()', async () => {
    const out = new Capture({ columns: 100 });
    let t = 0;
    const r = make({ stream: out, taskId: ID, pendingAfterMs: null, now: () => t });
    r.update(STARTED_META);
    assert.equal(out.text, `${P}STARTED on celery@vm (pid 10291)\n`);
    const before = out.text.length;
    r.update(progress(3, 10));
    const first = out.text.slice(before);
    assert.match(visible(first), /^task 8ae3649c…: PROGRESS \[(█+)(░+)\]  30% 3\/10 \| 0:00$/);
    const [, done, todo] = /\[(█+)(░+)\]/.exec(first)!;
    assert.equal(Math.round((done!.length / (done!.length + todo!.length)) * 10), 3);
    assert.ok(!first.includes('\n'), 'the bar stays on its line');
    t += 65_000;
    r.update(progress(4, 10));
    await sleep(600); // cli-progress redraws at most 5 times a second
    assert.match(visible(out.text), /PROGRESS \[█+░+\]  40% 4\/10 \| 1:05$/);
    const lineWidth = visible(out.text.slice(out.text.lastIndexOf('\x1b[1G'))).length;
    assert.ok(lineWidth < 100, `the bar line fits the terminal (${lineWidth} columns)`);
    r.done();
    assert.ok(out.text.endsWith('\x1b[2K'), `done() clears the bar's line: ${JSON.stringify(out.text.slice(-20))}`);
    const writes = out.writes;
    await sleep(450);
    assert.equal(out.writes, writes, 'nothing is drawn after done()');
  });

  test('a state that is not progress clears the bar and is printed as a line; the bar comes back', async () => {
    const out = new Capture({ columns: 120 });
    const r = make({ stream: out, taskId: ID, pendingAfterMs: null, now: () => 0 });
    r.update(progress(1, 2));
    r.update(RETRY_EXC);
    assert.ok(out.text.endsWith(`\x1b[2K${P}RETRY in 1s: FlakyError('first attempt', 5)\n`), JSON.stringify(out.text.slice(-90)));
    r.update(STARTED_META);
    r.update(progress(2, 2));
    assert.match(visible(out.text.slice(out.text.lastIndexOf('\n'))), /PROGRESS \[█+\] 100% 2\/2 \| 0:00$/);
    r.update(meta('SUCCESS', 3));
    assert.ok(out.text.endsWith('\x1b[2K'), 'SUCCESS clears the bar');
    const len = out.text.length;
    r.done();
    assert.equal(out.text.length, len);
  });

  test('odd progress metas on a terminal never throw and draw something sensible', () => {
    const cases: [unknown, RegExp][] = [
      [{ current: 3 }, /PROGRESS 3 \| 0:00$/],
      [{ current: 0, total: 0 }, /PROGRESS 0\/0 \| 0:00$/],
      [{ current: 12, total: 10 }, /PROGRESS \[█+\] 100% 12\/10 \| 0:00$/],
      [{ current: -1, total: 10 }, /PROGRESS \[░+\]   0% -1\/10 \| 0:00$/],
      [{ current: '7', total: '10', message: 'x\x1by' }, /PROGRESS \[█+░+\]  70% 7\/10 \| 0:00 x\?y$/],
      [{ current: 'abc' }, /PROGRESS \{"current": "abc"\}$/],
      [{ current: NaN, total: 1 }, /PROGRESS \{"current": NaN, "total": 1\}$/],
      [{ current: 5, total: 10, status: 's'.repeat(500) }, /…$/],
    ];
    for (const [result, want] of cases) {
      const out = new Capture({ columns: 80 });
      const r = make({ stream: out, taskId: ID, pendingAfterMs: null, now: () => 0 });
      r.update(meta('PROGRESS', result));
      const shown = visible(out.text).trimEnd();
      r.done();
      assert.match(shown, want, `${JSON.stringify(String(result))}: ${JSON.stringify(shown)}`);
      assert.ok(shown.length < 80, `fits 80 columns: ${shown.length}`);
    }
  });

  test('a narrow terminal still gets a line that fits', () => {
    const out = new Capture({ columns: 40 });
    const r = make({ stream: out, taskId: ID, pendingAfterMs: null, now: () => 0 });
    r.update(progress(1, 3));
    const shown = visible(out.text);
    r.done();
    assert.ok(shown.length <= 39, JSON.stringify(shown));
  });

  test('a bar left drawing (done() never called) does not keep the process alive', () => {
    const code = `
      import { Writable } from 'node:stream';
      import { createStateReporter } from ${JSON.stringify(pathToFileURL('src/cli/progress.ts').href)};
      const s = new Writable({ write: (_c, _e, cb) => cb() });
      s.isTTY = true;
      s.columns = 80;
      const r = createStateReporter({ stream: s, taskId: 'x', pendingAfterMs: 5000 });
      r.update({ status: 'PROGRESS', result: { current: 1, total: 2 }, traceback: null, children: null, date_done: null, task_id: 'x' });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  });

  test('tty: false on a terminal writes plain lines; a failing stream never makes update throw', () => {
    const out = new Capture({ columns: 80 });
    const r = make({ stream: out, taskId: ID, tty: false, pendingAfterMs: null });
    r.update(progress(1, 3));
    r.done();
    assert.equal(out.text, `${P}PROGRESS 1/3 (33%)\n`);
    const broken = new Capture({ columns: 80 });
    broken.write = () => {
      throw new Error('EPIPE');
    };
    for (const tty of [true, false]) {
      const b = make({ stream: broken, taskId: ID, tty, pendingAfterMs: null });
      assert.doesNotThrow(() => b.update(progress(1, 3)));
      assert.doesNotThrow(() => b.update(STARTED_META));
      assert.doesNotThrow(() => b.done());
    }
  });
});
