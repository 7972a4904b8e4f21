// `celeriac events` against a mixed fleet (a real Python Celery worker and a TypeScript worker, both -E),
// on each broker of the matrix, with the suite's own event_exchange and control_exchange:
// - `celeriac events --dump` and Python's `celery events --dump` run side by side over the same events
//   (task-sent from a TypeScript producer; success, failure and retry on both workers; heartbeats;
//   worker shutdown): their lines are the same, line for line, once `local_received` (the receiver's
//   own clock) and task-sent's `clock` (set by each receiver) are masked; and in them the TypeScript
//   worker's lines carry the Python worker's fields. Ctrl-C ends both with the same status.
// - the live view in a pseudo-terminal (`script`, read through @xterm/headless): both workers ONLINE,
//   each task's row with its state, FAILURE in red; j selects a row (shown inverse), t shows the
//   selected failed task's traceback (the TypeScript one and the Python one), r a result; both workers
//   OFFLINE after they stop; q quits with status 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { buildEvent, stringifyEvent, type CeleryEvent } from '../../protocol/events.ts';
import type { PyValue } from '../../protocol/values.ts';
import { Celery } from '../../src/app.ts';
import { Dumper } from '../../src/cli/events/dump.ts';
import { Worker } from '../../src/worker/worker.ts';
import type { BoundTask } from '../../src/worker/task.ts';
import { brokerMatrix, deleteAmqpQueues, type BrokerCase } from '../helpers/matrix.ts';
import { PYTHON, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { mulberry32 } from '../helpers/random.ts';
import { testLogger } from '../helpers/worker.ts';
import { startInPty, type PtyScreen } from './cli-events-pty.ts';

const DB = 13;
const ROWS = 34;
const COLS = 140;

class ValueError extends Error {
  override name = 'ValueError';
}

/** A process whose stdout is collected. */
interface Proc {
  child: ChildProcess;
  out(): string;
  exited: Promise<number | null>;
}

function collect(child: ChildProcess): Proc {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out + (err ? `\n[stderr]\n${err}` : ''), exited };
}

/** The exit status; rejects with the output if the process still runs after 30 s. */
async function exitWithin(p: Proc): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running 30 s after SIGINT:\n${p.out()}`)), 30_000);
  });
  return Promise.race([p.exited, late]).finally(() => clearTimeout(timer));
}

/** Until `test(text)` holds for the process's output; rejects with the output after 60 s. */
async function waitOutput(p: Proc, what: string, test: (out: string) => boolean): Promise<void> {
  const end = Date.now() + 60_000;
  while (!test(p.out())) {
    if (Date.now() > end || p.child.exitCode !== null) throw new Error(`never printed ${what} (exit ${p.child.exitCode}):\n${p.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A dump's events, one string each (a traceback's lines joined to its event's). */
function records(dump: string): string[] {
  const out: string[] = [];
  for (const line of dump.split('\n')) {
    if (line.startsWith('[stderr]')) break;
    if (/^\S+ \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00\] /.test(line)) out.push(line);
    else if (out.length && !line.startsWith('-> ')) out[out.length - 1] += '\n' + line;
  }
  return out;
}

/** What differs between two receivers of the same event: when each received it, and task-sent's clock (each receiver's own). */
function mask(record: string): string {
  let r = record.replace(/local_received=[0-9.e+-]+/, 'local_received=*');
  if (/^\S+ \[[^\]]+\] task sent:/.test(r)) r = r.replace(/\bclock=\d+/, 'clock=*');
  return r;
}

/** The records from the first task-sent to the last worker shutdown. */
function window(recs: string[]): string[] {
  const first = recs.findIndex((r) => / task sent: /.test(r));
  let last = -1;
  recs.forEach((r, i) => {
    if (/^\S+ \[[^\]]+\] shutdown: /.test(r)) last = i;
  });
  return recs.slice(first, last + 1);
}

/** `type -> sorted field names` of a host's records. */
function shapes(recs: string[], host: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of recs) {
    // a traceback's own lines (between the first and the last) are no fields
    const lines = r.split('\n');
    const m = /^(\S+) \[[^\]]+\] ([a-z ]+): (.*)$/.exec(lines.length > 1 ? `${lines[0]}${lines.at(-1)}` : r);
    if (!m || m[1] !== host) continue;
    const keys = [...m[3]!.matchAll(/(?:^|, | )([a-z_]+)=/g)].map((x) => x[1]!).sort().join(',');
    if (!out.has(m[2]!)) out.set(m[2]!, keys);
  }
  return out;
}

test("the dump's lines are those of Celery's Dumper for the same events: floats, None, booleans, nested values, unicode, microsecond rounding", async (t) => {
  if (!requirePython(t)) return;
  const rnd = mulberry32(14);
  const base = (type: string, ts: number, fields: Record<string, PyValue> = {}): CeleryEvent =>
    buildEvent(type, { hostname: 'w@h', pid: 42, clock: 7, utcoffset: 0, timestamp: ts }, fields);
  const events: CeleryEvent[] = [
    base('worker-online', 1_700_000_000, { freq: 2.0, active: 0, processed: 0, loadavg: [1.0, 0.5, 0.25], sw_ident: 'py-celery', sw_ver: '5.6.3', sw_sys: 'Linux' }),
    base('worker-heartbeat', 1_700_000_000.0000005, { freq: 2.0, active: 1, processed: 3, loadavg: [0.0, 10.0, 3.14] }),
    base('task-received', 1_700_000_001.5, { uuid: 'u1', name: 'proj.add', args: "['é☃', None]", kwargs: "{'a': True}", root_id: 'u1', parent_id: null, retries: 0, eta: null, expires: '2023-11-14T22:13:20+00:00' }),
    base('task-succeeded', 1_700_000_002.25, { uuid: 'u1', result: "'x'", runtime: 0.1 }),
    base('task-failed', 1_700_000_003.125, { uuid: 'unknown', exception: "KeyError('k')", traceback: 'Traceback (most recent call last):\nKeyError: \'k\'\n' }),
    base('task-progress', 1_700_000_004, { uuid: 'u1', meta: { a: [1, 2.5, null, true], 'b"': 'q\'s' } as PyValue, done: false }),
    base('task-sent', 1_700_000_005, { uuid: 'u2', name: 'proj.mul', args: '(2,)', kwargs: '{}', retries: 0, eta: null, expires: null, queue: 'celery', exchange: '', routing_key: 'celery', root_id: 'u2', parent_id: null }),
    base('task-started', 1_700_000_006, { uuid: 'u2' }),
    { hostname: 'w@h', timestamp: 1_700_000_007.75, type: 'custom-THING' } as CeleryEvent,
  ];
  for (let i = 0; i < 300; i++) {
    // k/128 s is a whole number of microseconds and a half: the rounding must be CPython's half-even
    const ts = 1_600_000_000 + Math.floor(rnd() * 300_000_000) + (i % 3 === 0 ? Math.floor(rnd() * 128) / 128 : rnd());
    events.push(base('worker-heartbeat', ts, { freq: 2.0, active: i, processed: i, loadavg: [rnd(), rnd() * 10, 0.0] }));
  }
  // the JSON a worker sends (floats written as floats, as Python reads them)
  const input = `{"events": [${events.map(stringifyEvent).join(', ')}]}`;
  const py = JSON.parse(await new Promise<string>((resolvePy, reject) => {
    const child = spawn(PYTHON, ['test/python/events_dump_truth.py'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('close', (code) => (code === 0 ? resolvePy(out) : reject(new Error(err))));
    child.stdin.end(input);
  })) as { lines: string[] };
  const dumper = new Dumper(() => undefined);
  events.forEach((e, i) => assert.equal(dumper.format(structuredClone(e)), py.lines[i], `event ${i}: ${stringifyEvent(e)}`));
});

for (const b of brokerMatrix(DB)) eventsCliSuite(b);

function eventsCliSuite(b: BrokerCase): void {
  const TSQ = uniqueName('evcli.ts');
  const PYQ = uniqueName('evcli.py');
  const TS_NODE = `${TSQ}@ts`;
  const PY_NODE = `${PYQ}@py`;
  const EVX = uniqueName('evcli.ev');
  const CTL = uniqueName('evcli.ctl');
  const shared = { ...b.settings, event_exchange: EVX, control_exchange: CTL };
  let skip = false;
  let app: Celery;
  let wapp: Celery;
  let worker: Worker | null = null;
  let py: PythonWorker | null = null;
  let pyDump: Proc | null = null;
  let tsDump: Proc | null = null;
  let top: PtyScreen | null = null;
  const ids: Record<string, { ts: string; py: string }> = {};
  const cliEnv = {
    ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_CONFIG_MODULE: '', CELERY_APP: '',
    CELERIAC_EVENTS_CONF: JSON.stringify(shared), TERM: 'xterm-256color', LANG: 'C.UTF-8',
  };
  const cli = ['bin/celeriac.js', '-A', 'test/interop/cli-events-app.ts', '-b', b.brokerUrl, 'events'];
  const pyEnv = { CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_BACKEND_URL: b.backendUrl, CELERIAC_EXTRA_CONF: JSON.stringify(shared) };

  const hostLine = (s: PtyScreen, host: string) => s.lines().find((l) => l.trimStart().startsWith(host + ' '));
  const rowOf = (s: PtyScreen, uuid: string) => s.lines().findIndex((l) => l.trimStart().startsWith(uuid));
  /** The cell at the start of `text` in screen row `y`. */
  const cellAt = (s: PtyScreen, y: number, text: string) => {
    const x = s.lines()[y]!.indexOf(text);
    return s.term.buffer.active.getLine(s.term.buffer.active.viewportY + y)!.getCell(x)!;
  };
  const selectedRow = (s: PtyScreen) => s.lines().findIndex((_, y) => {
    const line = s.term.buffer.active.getLine(s.term.buffer.active.viewportY + y)!;
    return (line.getCell(2)?.isInverse() ?? 0) !== 0;
  });

  /** j until the row of `id` is the selected (inverse) one. */
  const selectTask = async (s: PtyScreen, id: string) => {
    for (let i = 0; i < 20 && selectedRow(s) !== rowOf(s, id); i++) {
      const before = selectedRow(s);
      s.send('j');
      await s.waitFor(`the selection to move (j, from row ${before})`, (sc) => selectedRow(sc) !== before && selectedRow(sc) >= 0);
    }
    assert.equal(selectedRow(s), rowOf(s, id), `row of ${id} selected`);
    await s.waitFor('the Selected: line', (sc) => /Selected: args=/.test(sc.text()));
  };

  describe(`[${b.name}] celeriac events: --dump as celery events --dump, and the live view`, () => {
    before(async () => {
      if (!requirePython({ skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } } as never)) return;
      const base = { broker_url: b.brokerUrl, result_backend: b.backendUrl, ...shared };
      app = new Celery({ ...base, task_send_sent_event: true, env: {} });
      wapp = new Celery({ ...base, task_default_queue: TSQ, worker_send_task_events: true, env: {} });
      wapp.task('ev.add', (x: number, y: number) => x + y);
      wapp.task('ev.fail', (msg: string) => {
        throw new ValueError(msg);
      });
      wapp.task('ev.retry_once', (self: BoundTask, x: number) => {
        if (self.request.retries < 1) return self.retry({ countdown: 0.2, exc: new ValueError('again') });
        return x;
      }, { bind: true });
      worker = new Worker(wapp, { hostname: TS_NODE, concurrency: 2, logger: testLogger(), withoutMingle: true });
      await worker.start();
      py = await startPythonWorker(['-A', 'events_tasks', 'worker', '-E', '-n', PY_NODE, '-Q', PYQ, '-c', '1', '-l', 'info', '--without-gossip', '--without-mingle'], {
        cwd: 'test/python', env: pyEnv,
      });
      // the two dumps and the live view, all subscribed before the tasks are sent
      pyDump = collect(spawn(resolve(PYTHON), ['-u', '-W', 'ignore', '-m', 'celery', '-A', 'events_tasks', 'events', '--dump'], {
        cwd: 'test/python', env: { ...process.env, ...pyEnv }, stdio: ['ignore', 'pipe', 'pipe'],
      }));
      tsDump = collect(spawn(process.execPath, [...cli, '--dump'], { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] }));
      top = startInPty([process.execPath, ...cli], { rows: ROWS, cols: COLS, env: cliEnv });
      const both = (out: string) => [TS_NODE, PY_NODE].every((h) => new RegExp(`^${h.replaceAll('.', '\\.')} \\[.*\\] (heartbeat|started): `, 'm').test(out));
      await waitOutput(pyDump, 'both workers (Python dump)', both);
      await waitOutput(tsDump, 'both workers (celeriac dump)', both);
      await top.waitFor('both workers ONLINE', (s) => [TS_NODE, PY_NODE].every((h) => / ONLINE /.test(hostLine(s, h) ?? '')));

      for (const [scenario, name, args] of [['success', 'ev.add', [2, 3]], ['failure', 'ev.fail', ['boom']], ['retry', 'ev.retry_once', [7]]] as const) {
        const t = await app.sendTask(name, [...args], {}, { queue: TSQ });
        const p = await app.sendTask(name, [...args], {}, { queue: PYQ });
        ids[scenario] = { ts: t.id, py: p.id };
        await t.get({ timeout: 30, propagate: false });
        await p.get({ timeout: 30, propagate: false });
      }
    });

    after(async () => {
      if (top && top.child.exitCode === null) top.child.kill('SIGKILL');
      for (const p of [pyDump, tsDump]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
      await worker?.stop().catch(() => undefined);
      await py?.stop().catch(() => undefined);
      await app?.close().catch(() => undefined);
      if (b.name === 'amqp' && !skip) await deleteAmqpQueues([TSQ, PYQ], [TSQ, PYQ, EVX, `${CTL}.pidbox`, `reply.${CTL}.pidbox`]);
    });

    test('the live view shows both workers and every task with its state; FAILURE in red', async (t) => {
      if (skip) return t.skip('no python');
      const s = top!;
      const all = Object.values(ids).flatMap((x) => [x.ts, x.py]);
      await s.waitFor('every task in its final state', (sc) => {
        const text = sc.text();
        return Object.entries(ids).every(([scenario, x]) => [x.ts, x.py].every((id) => {
          const line = sc.lines()[rowOf(sc, id)] ?? '';
          return text.includes(id) && line.trimEnd().endsWith(scenario === 'failure' ? 'FAILURE' : 'SUCCESS');
        }));
      });
      for (const id of all) {
        const line = s.lines()[rowOf(s, id)]!;
        assert.match(line, new RegExp(`${id} +(${TS_NODE}|${PY_NODE}) +ev\\.\\w+ +\\d\\d:\\d\\d:\\d\\d`), line);
      }
      for (const id of [ids.failure!.ts, ids.failure!.py]) {
        const y = rowOf(s, id);
        const cell = cellAt(s, y, 'FAILURE');
        assert.ok(cell.isFgPalette() && cell.getFgColor() === 1, `FAILURE in red (row ${y}: mode ${cell.getFgColorMode()} color ${cell.getFgColor()})`);
        assert.ok(cell.isBold(), 'FAILURE in bold');
      }
      const ok = cellAt(s, rowOf(s, ids.success!.ts), 'SUCCESS');
      assert.ok(ok.isFgPalette() && ok.getFgColor() === 2, 'SUCCESS in green');
      assert.match(s.text(), /Info: events: \d+ tasks:\d+ workers:2\/2/);
      // The receiver's wake-up asks each worker for a `heartbeat` at once; as in Celery, that one carries
      // only freq=5 and the software, so the counters and load show with the next periodic heartbeat (2 s).
      const tsRow = / ONLINE +\d+ +\d+ +[\d.]+ [\d.]+ [\d.]+ +celeriac /;
      const pyRow = / ONLINE +\d+ +\d+ +[\d.]+ [\d.]+ [\d.]+ +py-celery 5\.6/;
      await s.waitFor('both workers with counters and load', (sc) => tsRow.test(hostLine(sc, TS_NODE) ?? '') && pyRow.test(hostLine(sc, PY_NODE) ?? ''));
      assert.match(hostLine(s, TS_NODE)!, tsRow);
      assert.match(hostLine(s, PY_NODE)!, pyRow);
    });

    test('j selects a task, t shows the traceback of a failed one (TypeScript and Python), r a result; any key returns', async (t) => {
      if (skip) return t.skip('no python');
      const s = top!;
      const select = (id: string) => selectTask(s, id);
      await select(ids.failure!.ts);
      s.send('t');
      await s.waitFor('the TypeScript traceback', (sc) => sc.text().includes(`Task Exception Traceback for ${ids.failure!.ts}`) && /ValueError: boom/.test(sc.text()));
      assert.match(s.text(), /Traceback \(most recent call last\):/);
      assert.match(s.text(), /Press any key to continue\.\.\./);
      s.send('x');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.failure!.ts) >= 0);

      await select(ids.failure!.py);
      s.send('t');
      await s.waitFor('the Python traceback', (sc) => sc.text().includes(`Task Exception Traceback for ${ids.failure!.py}`) && /raise ValueError\(msg\)/.test(sc.text()));
      s.send(' ');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.failure!.py) >= 0);

      await select(ids.success!.ts);
      const rawAt = s.raw().length;
      s.send('t'); // not failed: a bell, no screen
      await s.waitFor('a bell', (sc) => sc.raw().slice(rawAt).includes('\x07'));
      s.send('r');
      await s.waitFor('the result', (sc) => sc.text().includes(`Task Result for ${ids.success!.ts}`));
      assert.equal(s.lines().filter((l) => l.trim() === '5').length, 1, s.text());
      assert.ok(!s.text().includes('Task Exception Traceback'), 'no traceback for a task that succeeded');
      s.send('i');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.success!.ts) >= 0);
      s.send('\r');
      await s.waitFor('the details', (sc) => sc.text().includes(`Task details for ${ids.success!.ts}`) && /state: SUCCESS/.test(sc.text()) && /args: \[2, 3\]/.test(sc.text()));
      s.send('k');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.success!.ts) >= 0);
    });

    test('c revokes the selected task, l sets a rate limit for its name: each worker\'s reply on screen', async (t) => {
      if (skip) return t.skip('no python');
      const s = top!;
      await selectTask(s, ids.retry!.py);
      s.send('c');
      await s.waitFor('the replies to revoke', (sc) => sc.text().includes(`Remote Control Command Replies (revoke ${ids.retry!.py})`)
        && [TS_NODE, PY_NODE].every((h) => sc.lines().some((l) => l.includes(`${h}: `) && l.includes(ids.retry!.py))));
      const ok = cellAt(s, s.lines().findIndex((l) => l.includes(`${PY_NODE}: `)), 'tasks ');
      assert.ok(ok.isFgPalette() && ok.getFgColor() === 2, 'an ok reply in green');
      s.send('x');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.retry!.py) >= 0);
      s.send('l');
      await s.waitFor('the rate limit prompt', (sc) => sc.text().includes('New rate limit:'));
      let typed = '';
      for (const ch of '10/m') {
        s.send(ch);
        typed += ch;
        await s.waitFor(`"${typed}" typed`, (sc) => sc.lines().some((l) => l.includes(`New rate limit: ${typed}█`)));
      }
      s.send('\r');
      await s.waitFor('the replies to rate_limit', (sc) => sc.text().includes('Remote Control Command Replies (rate_limit ev.retry_once 10/m)')
        && [TS_NODE, PY_NODE].every((h) => sc.lines().some((l) => l.includes(`${h}: `))));
      assert.match(s.text(), new RegExp(`${PY_NODE.replaceAll('.', '\\.')}: new rate limit set successfully`));
      s.send('x');
      await s.waitFor('the main screen again', (sc) => rowOf(sc, ids.retry!.py) >= 0);
    });

    test('workers that stop turn OFFLINE; q quits with status 0', async (t) => {
      if (skip) return t.skip('no python');
      await worker!.stop();
      worker = null;
      await py!.stop();
      py = null;
      const s = top!;
      await s.waitFor('both workers OFFLINE', (sc) => [TS_NODE, PY_NODE].every((h) => / OFFLINE /.test(hostLine(sc, h) ?? '')));
      assert.match(s.text(), /workers:0\/2/);
      s.send('q');
      assert.equal(await s.waitExit(), 0, s.raw().slice(-500));
      assert.ok(s.raw().includes('\x1b[?1049l'), 'left the alternate screen');
    });

    test('celeriac events --dump prints what celery events --dump prints, line for line', async (t) => {
      if (skip) return t.skip('no python');
      if (worker || py) {
        await worker?.stop();
        worker = null;
        await py?.stop();
        py = null;
      }
      const shutdowns = (out: string) => [TS_NODE, PY_NODE].every((h) => out.includes(`\n${h} [`) && new RegExp(`^${h.replaceAll('.', '\\.')} \\[.*\\] shutdown: `, 'm').test(out));
      await waitOutput(pyDump!, 'both shutdowns (Python dump)', shutdowns);
      await waitOutput(tsDump!, 'both shutdowns (celeriac dump)', shutdowns);
      pyDump!.child.kill('SIGINT');
      tsDump!.child.kill('SIGINT');
      const pyDumpStatus = await exitWithin(pyDump!);
      const tsDumpStatus = await exitWithin(tsDump!);
      const pyOut = pyDump!.out();
      const tsOut = tsDump!.out();
      assert.equal(tsOut.split('\n')[0], '-> evdump: starting capture...');
      assert.equal(pyOut.split('\n')[0], '-> evdump: starting capture...');
      const pyRecs = window(records(pyOut)).map(mask);
      const tsRecs = window(records(tsOut)).map(mask);
      assert.ok(pyRecs.length > 20, `python dump: ${pyRecs.length} events\n${pyOut}`);
      // the same events, in the same order, printed the same
      for (let i = 0; i < Math.max(pyRecs.length, tsRecs.length); i++) {
        assert.equal(tsRecs[i], pyRecs[i], `event ${i} of the dump`);
      }
      // every kind of line is there, for both workers
      for (const host of [TS_NODE, PY_NODE]) {
        for (const kind of ['task received', 'task started', 'task succeeded', 'task failed', 'task retried', 'heartbeat', 'shutdown']) {
          assert.ok(tsRecs.some((r) => r.startsWith(`${host} [`) && r.includes(`] ${kind}: `)), `${host}: ${kind}`);
        }
      }
      const sent = tsRecs.find((r) => r.includes(`task sent: ev.add(${ids.success!.ts}) args=[2, 3] kwargs={} `))!;
      assert.match(sent, new RegExp(`^${app.origin.replaceAll('.', '\\.')} \\[`), sent);
      // the TypeScript worker's lines carry the Python worker's fields
      const tsShapes = shapes(tsRecs, TS_NODE);
      const pyShapes = shapes(tsRecs, PY_NODE);
      for (const [kind, keys] of pyShapes) assert.equal(tsShapes.get(kind), keys, `${kind}: the same fields`);
      assert.equal(tsDumpStatus, pyDumpStatus, 'Ctrl-C: the same exit status');
      assert.equal(tsDumpStatus, 0);
    });
  });
}
