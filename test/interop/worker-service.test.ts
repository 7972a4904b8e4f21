// `celeriac worker` as a service (src/cli/worker-service.ts): pidfile and logfile with Celery's %
// abbreviations, a live pidfile refused and a stale one replaced, USR1 dumps the running tasks and
// keeps Node's inspector (port 9229) closed, HUP restarts warm into a new process that takes over
// the pidfile with nothing lost, --detach. Redis db 12, a queue of its own per test.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePython, uniqueName } from '../helpers/peers.ts';
import { portOpen } from '../helpers/private-redis.ts';
import { alive, readPid } from '../helpers/proc.ts';
import { peer, sleep, URL, type Outcome } from '../helpers/worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-service-'));
const children: ChildProcess[] = [];
const strays: number[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  child: ChildProcess;
  out: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<void>;
  exited: Promise<number | null>;
}

function worker(queue: string, extra: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [
    'bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '-Q', queue, '-l', 'info', '-n', `${queue}@%h`,
    '--broker', URL, '--result-backend', URL, ...extra,
  ], { env: { ...process.env, CELERIAC_TEST_QUEUE: queue, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child, exited, out: () => out,
    waitFor: async (re, ms = 60_000) => {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`waiting for ${re}: got\n${out}`);
        await sleep(50);
      }
    },
  };
}

async function until<T>(what: string, f: () => T | undefined | null | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}



describe('celeriac worker as a service', () => {
  test('--pidfile and --logfile expand %n %I %i; a live pidfile is refused (73), a stale one replaced; removed at exit', async () => {
    const queue = uniqueName('ts.svc.pid');
    const pidfile = join(dir, `${queue}.pid`);
    writeFileSync(pidfile, '999999\n'); // stale: no such process
    const w = worker(queue, ['--pidfile', join(dir, '%n.pid'), '--logfile', join(dir, '%n%I-%i.log')]);
    const pid = await until('the pidfile', () => readPid(pidfile) === w.child.pid && w.child.pid);
    assert.equal(statSync(pidfile).mode & 0o777, 0o644);
    const logfile = join(dir, `${queue}-0.log`);
    await until('ready in the logfile', () => existsSync(logfile) && /ready\./.test(readFileSync(logfile, 'utf8')));
    await w.waitFor(/Stale pidfile exists - Removing it\./);
    assert.doesNotMatch(w.out(), /INFO\/MainProcess/, 'log lines go to the logfile, not stderr');

    const second = worker(queue, ['--pidfile', join(dir, '%n.pid')]);
    assert.equal(await second.exited, 73, second.out());
    assert.match(second.out(), new RegExp(`Pidfile \\(.*${queue}\\.pid\\) already exists\\.\\nSeems we're already running\\? \\(pid: ${pid}\\)`));

    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.equal(existsSync(pidfile), false, 'the pidfile is removed at exit');
  });

  test('signals as Celery 5.6: a second TERM stays warm (exit 0); a second INT goes cold (exit 1) without waiting', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.svc.sig');
    const term = worker(queue, ['-c', '1']);
    await term.waitFor(/ready\./);
    const [a] = (await peer([{ op: 'send', name: 'tscli.sleep', args: [1500], options: { queue } }])) as string[];
    await term.waitFor(new RegExp(`tscli.sleep\\[${a}\\] received`));
    term.child.kill('SIGTERM');
    await term.waitFor(/Warm shutdown/);
    term.child.kill('SIGTERM');
    assert.equal(await term.exited, 0, term.out());
    const [outA] = (await peer([{ op: 'get', id: a, timeout: 1 }])) as Outcome[];
    assert.equal(outA!.state, 'SUCCESS', 'the second TERM did not abandon the running task');

    const int = worker(queue, ['-c', '1']);
    await int.waitFor(/ready\./);
    const [b] = (await peer([{ op: 'send', name: 'tscli.sleep', args: [60_000], options: { queue } }])) as string[];
    await int.waitFor(new RegExp(`tscli.sleep\\[${b}\\] received`));
    int.child.kill('SIGINT');
    await int.waitFor(/worker: Hitting Ctrl\+C again will initiate cold shutdown, terminating all running tasks!/);
    int.child.kill('SIGINT');
    assert.equal(await int.exited, 1, int.out());
    assert.match(int.out(), /worker: Hitting Ctrl\+C again will terminate all running tasks!/);
    const [outB] = (await peer([{ op: 'get', id: b, timeout: 1 }])) as Outcome[];
    assert.equal(outB!.state, 'PENDING', 'the cold shutdown did not wait for the 60 s task');
  });

  test('worker_soft_shutdown_timeout (Celery 5.5): a cold shutdown first lets the running task finish', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.svc.soft');
    const w = worker(queue, ['-c', '1'], { CELERIAC_TEST_SOFT_SHUTDOWN: '30' });
    await w.waitFor(/ready\./);
    const [a] = (await peer([{ op: 'send', name: 'tscli.sleep', args: [1500], options: { queue } }])) as string[];
    await w.waitFor(new RegExp(`tscli.sleep\\[${a}\\] received`));
    w.child.kill('SIGQUIT');
    assert.equal(await w.exited, 0, w.out());
    const [out] = (await peer([{ op: 'get', id: a, timeout: 1 }])) as Outcome[];
    assert.equal(out!.state, 'SUCCESS', `the soft shutdown waited for the task:\n${w.out()}`);
  });

  test('REMAP_SIGTERM=SIGQUIT: TERM is a cold shutdown (exit 0, as QUIT in Celery 5.6.3)', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.svc.remap');
    const w = worker(queue, ['-c', '1'], { REMAP_SIGTERM: 'SIGQUIT' });
    await w.waitFor(/ready\./);
    const [id] = (await peer([{ op: 'send', name: 'tscli.sleep', args: [60_000], options: { queue } }])) as string[];
    await w.waitFor(new RegExp(`tscli.sleep\\[${id}\\] received`));
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /worker: Hitting Ctrl\+C again will terminate all running tasks!/);
    const [out] = (await peer([{ op: 'get', id, timeout: 1 }])) as Outcome[];
    assert.equal(out!.state, 'PENDING');
  });

  test('--uid/--gid drop privileges (as root) or fail in one line (as anyone else); --umask applies', async () => {
    const queue = uniqueName('ts.svc.uid');
    const pidfile = join(dir, `${queue}.pid`);
    if (process.getuid?.() !== 0) {
      const r = spawnSync(process.execPath, ['bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '--uid', '0', '-b', URL], { encoding: 'utf8' });
      assert.equal(r.status, 64, r.stderr);
      assert.match(r.stderr, /--uid\/--gid: /);
      return;
    }
    chmodSync(dir, 0o777);
    const w = worker(queue, ['--uid', 'nobody', '--umask', '077', '--pidfile', pidfile]);
    await w.waitFor(/ready\./);
    const status = readFileSync(`/proc/${w.child.pid}/status`, 'utf8');
    const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    assert.match(status, new RegExp(`^Uid:\\t${nobody}\\t${nobody}\\t${nobody}\\t${nobody}$`, 'm'));
    assert.equal(statSync(pidfile).uid, nobody, 'the pidfile is written after the drop');
    assert.equal(statSync(pidfile).mode & 0o777, 0o600, 'umask 077');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.equal(existsSync(pidfile), false);
  });

  test('SIGUSR1 writes the running tasks and the main stack; Node\'s inspector stays closed', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.svc.usr1');
    const w = worker(queue, ['-c', '2']);
    await w.waitFor(/ready\./);
    const [id] = (await peer([{ op: 'send', name: 'tscli.sleep', args: [1500], options: { queue } }])) as string[];
    await w.waitFor(new RegExp(`tscli.sleep\\[${id}\\] received`));
    w.child.kill('SIGUSR1');
    await w.waitFor(/MainThread\n=+\n(.*\n)+=+/);
    assert.match(w.out(), new RegExp(`${queue}@\\S+ \\(pid ${w.child.pid}\\): 1 running task\\(s\\)`));
    assert.match(w.out(), new RegExp(`tscli\\.sleep\\[${id}\\] running for \\d+\\.\\d{3}s args=\\[1500\\] kwargs=\\{\\}`));
    assert.doesNotMatch(w.out(), /Debugger listening/);
    assert.equal(await portOpen(9229), false, 'nothing listens on 9229');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    const [out] = (await peer([{ op: 'get', id, timeout: 1 }])) as Outcome[];
    assert.equal(out!.state, 'SUCCESS', 'USR1 did not disturb the task');
  });

  test('SIGHUP restarts: warm shutdown, a new process with the same arguments takes over the pidfile, nothing lost', async (t) => {
    if (!requirePython(t)) return;
    const queue = uniqueName('ts.svc.hup');
    const pidfile = join(dir, `${queue}.pid`);
    const w = worker(queue, ['-c', '1', '--pidfile', pidfile]);
    await w.waitFor(/ready\./);
    const oldPid = w.child.pid!;
    assert.equal(readPid(pidfile), oldPid);
    const ids = (await peer([
      { op: 'send', name: 'tscli.sleep', args: [1000], options: { queue } },
      { op: 'send', name: 'tscli.who', args: [], options: { queue } },
      { op: 'send', name: 'tscli.who', args: [], options: { queue } },
    ])) as string[];
    await w.waitFor(new RegExp(`tscli.sleep\\[${ids[0]}\\] received`));
    w.child.kill('SIGHUP');
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /Restarting celery worker \(.*worker -A test\/helpers\/worker-app\.ts/);
    assert.match(w.out(), /Warm shutdown/);
    const newPid = readPid(pidfile)!;
    strays.push(newPid);
    assert.notEqual(newPid, oldPid);
    assert.ok(alive(newPid), 'the pidfile names the new, live process');
    const outs = (await peer([{ op: 'get_many', ids, timeout: 20 }]))[0] as Outcome[];
    assert.deepEqual(outs.map((o) => o.state), ['SUCCESS', 'SUCCESS', 'SUCCESS'], JSON.stringify(outs));
    assert.equal(outs[0]!.result, 1000, 'the task in flight finished before the restart');
    process.kill(newPid, 'SIGTERM');
    await until('the new worker to exit and remove the pidfile', () => !alive(newPid) && !existsSync(pidfile));
    assert.match(w.out(), /ready\.[\s\S]*Restarting[\s\S]*ready\./, 'the new process writes to the same stdout/stderr');
  });

  test('--detach: the command returns once the background worker wrote its pidfile; output goes to the logfile', async () => {
    const queue = uniqueName('ts.svc.detach');
    const pidfile = join(dir, `${queue}.pid`);
    const logfile = join(dir, `${queue}.log`);
    const r = spawnSync(process.execPath, [
      'bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '-Q', queue, '-l', 'info', '-n', `${queue}@%h`,
      '--broker', URL, '--result-backend', URL, '--detach', '--pidfile', join(dir, '%n.pid'), '--logfile', join(dir, '%n%I.log'),
    ], { env: { ...process.env, CELERIAC_TEST_QUEUE: queue }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const pid = readPid(pidfile)!;
    strays.push(pid);
    assert.ok(alive(pid));
    await until('ready in the logfile', () => /ready\./.test(readFileSync(logfile, 'utf8')));
    assert.match(readFileSync(logfile, 'utf8'), new RegExp(`-------------- ${queue}@${hostname().replace(/\./g, '\\.')}`), 'the banner too');
    process.kill(pid, 'SIGTERM');
    await until('the detached worker to exit and remove its pidfile', () => !alive(pid) && !existsSync(pidfile));
  });

  test('--detach, then USR1 and TERM at once (the app still loading): no inspector, the worker exits and its pidfile goes', async () => {
    const queue = uniqueName('ts.svc.early');
    const pidfile = join(dir, `${queue}.pid`);
    const logfile = join(dir, `${queue}.log`);
    const r = spawnSync(process.execPath, [
      'bin/celeriac.js', 'worker', '-A', 'test/helpers/worker-app.ts', '-Q', queue, '-n', `${queue}@%h`,
      '--broker', URL, '--result-backend', URL, '--detach', '--pidfile', join(dir, '%n.pid'), '--logfile', join(dir, '%n%I.log'),
    ], { env: { ...process.env, CELERIAC_TEST_QUEUE: queue }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const pid = readPid(pidfile)!;
    strays.push(pid);
    process.kill(pid, 'SIGUSR1');
    process.kill(pid, 'SIGTERM');
    await until('the detached worker to exit and remove its pidfile', () => !alive(pid) && !existsSync(pidfile));
    assert.doesNotMatch(readFileSync(logfile, 'utf8'), /Debugger listening/);
  });
});
