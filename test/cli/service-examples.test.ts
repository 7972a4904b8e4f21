// The systemd units and the Supervisor program in examples/ (Celery's documented ones, for celeriac),
// tried as far as this machine allows: `systemd-analyze verify` on each unit (paths pointed at this
// checkout), and supervisord (Debian's package) running examples/supervisor/celeriac.conf's program:
// RUNNING, then `supervisorctl stop` is a warm shutdown. Each part is skipped when the tool is missing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { IN_CI, uniqueName } from '../helpers/peers.ts';
import { URL, sleep } from '../helpers/worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-examples-'));
const BIN = resolve('bin/celeriac.js');
after(() => rmSync(dir, { recursive: true, force: true }));

/** A missing tool skips the test, except under CI, where .ci/brokers.sh installs it and nothing may skip. */
function missing(t: { skip(m: string): void }, why: string): void {
  if (IN_CI) assert.fail(`${why} (CI=true: nothing skips)`);
  t.skip(why);
}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

describe('examples/systemd and examples/supervisor', () => {
  test('systemd-analyze verify accepts each unit', (t) => {
    if (!which('systemd-analyze')) return missing(t, 'systemd-analyze not installed');
    for (const name of ['celeriac.service', 'celeriac-worker.service']) {
      const unit = readFileSync(join('examples/systemd', name), 'utf8')
        .replaceAll('/opt/celeriac/node_modules/.bin/celeriac', BIN)
        .replaceAll('/opt/celeriac', process.cwd())
        .replace(/^(User|Group)=celery$/gm, `$1=${userInfo().username}`)
        .replace('EnvironmentFile=/etc/conf.d/celeriac', `EnvironmentFile=${resolve('examples/systemd/celeriac.conf')}`);
      const path = join(dir, name);
      writeFileSync(path, unit);
      const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
      // only this unit's lines: verify also reports on unrelated units installed on the machine
      const own = (r.stderr + r.stdout).split('\n').filter((l) => l.includes(name));
      assert.deepEqual(own, [], `${name}:\n${r.stderr}`);
    }
  });

  test('supervisord runs the program: RUNNING, then stop is a warm shutdown', async (t) => {
    if (!which('supervisord') || !which('supervisorctl')) return missing(t, 'supervisor not installed (apt-get install supervisor; .ci/brokers.sh does)');
    const queue = uniqueName('ts.supervisor');
    const log = join(dir, 'worker.log');
    const program = readFileSync('examples/supervisor/celeriac.conf', 'utf8')
      .replace('directory=/opt/celeriac', `directory=${process.cwd()}`)
      .replace('user=nobody', `user=${userInfo().username}`)
      .replaceAll('/var/log/celery/worker.log', log)
      .replace('startsecs=10', 'startsecs=1')
      .replace(/^command=.*$/m, `command=${process.execPath} ${BIN} -A test/helpers/worker-app.ts worker --loglevel=INFO -Q ${queue} -b ${URL} --result-backend ${URL} --without-mingle`);
    assert.match(program, /^\[program:celeriac\]$/m);
    const sock = join(dir, 'supervisor.sock');
    const conf = join(dir, 'supervisord.conf');
    writeFileSync(conf, [
      '[unix_http_server]', `file=${sock}`, '',
      '[supervisord]', `logfile=${join(dir, 'supervisord.log')}`, `pidfile=${join(dir, 'supervisord.pid')}`, 'nodaemon=true', '',
      '[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface', '',
      '[supervisorctl]', `serverurl=unix://${sock}`, '',
      program,
    ].join('\n'));
    const daemon = spawn('supervisord', ['-c', conf], { stdio: 'ignore' });
    const exited = new Promise((r) => daemon.once('exit', r));
    const ctl = (...args: string[]) => spawnSync('supervisorctl', ['-c', conf, ...args], { encoding: 'utf8', timeout: 30_000 });
    try {
      const end = Date.now() + 30_000;
      while (!/celeriac\s+RUNNING/.test(ctl('status', 'celeriac').stdout) || !existsSync(log) || !/ready\./.test(readFileSync(log, 'utf8'))) {
        if (Date.now() > end) throw new Error(`not RUNNING: ${ctl('status').stdout}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
        await sleep(100);
      }
      const stop = ctl('stop', 'celeriac');
      assert.match(stop.stdout, /celeriac: stopped/);
      assert.match(readFileSync(log, 'utf8'), /Warm shutdown/);
      assert.match(ctl('status', 'celeriac').stdout, /celeriac\s+STOPPED/);
      assert.doesNotMatch(readFileSync(join(dir, 'supervisord.log'), 'utf8'), /exited: celeriac .*not expected/);
    } finally {
      ctl('shutdown');
      daemon.kill('SIGTERM');
      await exited;
    }
  });
});
