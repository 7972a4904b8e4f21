// `celeriac multi` (src/cli/multi.ts) against `celery multi` 5.6.3: the same node names and, command
// line for command line, the same `show` output (after the program's own prefix); then three named
// TypeScript nodes with per-node options started, each serving its queue, restarted (new pids,
// pidfiles updated, still serving), stopped with stopwait (pidfiles gone) and killed. Redis db 12,
// queues and node names of their own.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PYTHON, requirePython, uniqueName } from '../helpers/peers.ts';
import { alive, readPid } from '../helpers/proc.ts';
import { peer, URL, type Outcome } from '../helpers/worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-multi-'));
const started: number[] = [];

after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
});

function celeriac(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bin/celeriac.js', ...args], { encoding: 'utf8', timeout: 90_000 });
}


describe('celeriac multi', () => {
  test('show and names print what celery multi prints for the same arguments', async (t) => {
    if (!requirePython(t)) return;
    const bin = resolve('bin/celeriac.js');
    const cases = [
      ['3', '-c', '3', '-c:1', '10', '-Q:2', 'q', '-l', 'INFO', `--pidfile=${dir}/%n.pid`, `--logfile=${dir}/%n%I.log`],
      ['10', '-l', 'INFO', '-Q:1-3', 'images,video', '-Q:4,5', 'data', '-Q', 'default', '-L:4,5', 'DEBUG', `--pidfile=${dir}/%n.pid`, `--logfile=${dir}/%n%I.log`],
      ['image', 'video', 'data', '-c', '3', '-c:image', '10', `--pidfile=${dir}/%n.pid`, `--logfile=${dir}/%h/%N%I.log`],
      ['foo@%h', 'bar@box.example.com', '-E', '--range-prefix=w', `--pidfile=${dir}/%n-%d.pid`, `--logfile=${dir}/%p%I.log`, '-b', 'redis://h:1/2', '--workdir=/tmp'],
      ['2', '--hostname=worker.example.com', '--prefix=x', `--pidfile=${dir}/%n.pid`, `--logfile=${dir}/%n.log`],
    ];
    const run = (file: string, args: string[]) => new Promise<string>((done, fail) =>
      execFile(file, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout))));
    const outs = await Promise.all(cases.flatMap((args) => [
      run(resolve(PYTHON), ['-m', 'celery', '-b', 'memory://', 'multi', 'show', ...args]),
      run(process.execPath, ['bin/celeriac.js', '-b', 'memory://', 'multi', 'show', ...args]),
      run(resolve(PYTHON), ['-m', 'celery', 'multi', 'names', ...args]),
      run(process.execPath, ['bin/celeriac.js', 'multi', 'names', ...args]),
    ]));
    cases.forEach((args, i) => {
      const [py, ts, pyNames, tsNames] = outs.slice(4 * i, 4 * i + 4) as [string, string, string, string];
      const expected = py
        .replaceAll(`${resolve(PYTHON)} -m celery`, `${process.execPath} ${bin}`)
        .replaceAll(`--executable=${resolve(PYTHON)}`, `--executable=${process.execPath}`);
      assert.equal(ts, expected, args.join(' '));
      assert.equal(tsNames, pyNames, args.join(' '));
    });
  });

  test('start, restart, stopwait and kill three named nodes with per-node options', async (t) => {
    if (!requirePython(t)) return;
    const u = uniqueName('ts.multi').replace(/\./g, '');
    const [q1, q2] = [`${u}.q1`, `${u}.q2`];
    const names = [`${u}a`, `${u}b`, `${u}c`];
    const common = [
      // long options take their value after '=', as in celery multi
      '-A', 'test/helpers/worker-app.ts', '-b', URL, `--result-backend=${URL}`,
      ...names, '-Q', q1, '-Q:2', q2, '-c:1', '3', '-l', 'info', '--without-mingle',
      `--pidfile=${dir}/%n.pid`, `--logfile=${dir}/%n%I.log`,
    ];
    const pidfiles = names.map((n) => join(dir, `${n}.pid`));
    const served = async () => {
      const ids = (await peer([
        { op: 'send', name: 'tscli.who', args: [], options: { queue: q2 } },
        ...names.map(() => ({ op: 'send', name: 'tscli.who', args: [], options: { queue: q1 } })),
      ])) as string[];
      const outs = (await peer([{ op: 'get_many', ids, timeout: 20 }]))[0] as Outcome[];
      assert.deepEqual(outs.map((o) => o.state), ids.map(() => 'SUCCESS'));
      return outs.map((o) => o.result as string);
    };

    const start = celeriac(['multi', 'start', ...common]);
    assert.equal(start.status, 0, start.stdout + start.stderr);
    assert.match(start.stdout, new RegExp(`> Starting nodes\\.\\.\\.\\n${names.map((n) => `\\t> ${n}@${hostname()}: OK\\n`).join('')}`));
    const pids = pidfiles.map((p) => readPid(p)!);
    started.push(...pids);
    assert.ok(pids.every(alive), 'each pidfile names a live worker');
    const whos = await served();
    assert.equal(whos[0], `ts:${pids[1]}`, 'node 2 serves its own queue');
    // every node is up now (each answered): the banners are in the logfiles
    const log = (i: number) => readFileSync(join(dir, `${names[i]}.log`), 'utf8');
    assert.match(log(0), /concurrency: 3 /);
    assert.match(log(1), new RegExp(`\\.> ${q2.replace(/\./g, '\\.')} `));
    assert.match(log(2), new RegExp(`\\.> ${q1.replace(/\./g, '\\.')} `));

    const restart = celeriac(['multi', 'restart', ...common]);
    assert.equal(restart.status, 0, restart.stdout + restart.stderr);
    for (const n of names) assert.match(restart.stdout, new RegExp(`> Restarting node ${n}@\\S+: OK`));
    const newPids = pidfiles.map((p) => readPid(p)!);
    started.push(...newPids);
    assert.ok(newPids.every((p, i) => p !== pids[i] && alive(p)), 'new processes, pidfiles updated');
    assert.ok(!pids.some(alive), 'the old ones are gone');
    assert.equal((await served())[0], `ts:${newPids[1]}`);

    const stop = celeriac(['multi', 'stopwait', ...common]);
    assert.equal(stop.status, 0, stop.stdout + stop.stderr);
    assert.match(stop.stdout, new RegExp(`\\t> ${names[0]}@\\S+: TERM -> ${newPids[0]}`));
    assert.ok(!newPids.some(alive), 'stopwait returns once every node is gone');
    assert.ok(!pidfiles.some(existsSync), 'pidfiles removed');
    assert.match(celeriac(['multi', 'stop', ...common]).stdout, new RegExp(`> ${names[0]}@\\S+: DOWN`));

    assert.equal(celeriac(['multi', 'start', ...common]).status, 0);
    const last = pidfiles.map((p) => readPid(p)!);
    started.push(...last);
    const kill = celeriac(['multi', 'kill', ...common]);
    assert.match(kill.stdout, new RegExp(`Sending KILL to node ${names[2]}@\\S+ \\(${last[2]}\\)`));
    const end = Date.now() + 10_000;
    while (last.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!last.some(alive), 'killed');
  });
});
