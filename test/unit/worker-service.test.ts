// Celery's % abbreviations (known answers from celery.utils.nodenames.node_format, Celery 5.6.3) and
// the pidfile's rules (celery.platforms.Pidfile / create_pidlock).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFormat } from '../../src/worker/service/nodefmt.ts';
import { createPidlock, LockFailed, Pidfile } from '../../src/worker/service/pidfile.ts';
import { parseUmask } from '../../src/cli/worker-service.ts';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-pidfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('node_format', () => {
  test('expands as Celery 5.6.3', () => {
    // printed by node_format(s, nodename) in Celery 5.6.3
    assert.equal(nodeFormat('%n%I.log', 'w1@box.example.com'), 'w1.log');
    assert.equal(nodeFormat('%h-%d-%p-%i.pid', 'w1@box.example.com'), 'box.example.com-example.com-w1@box.example.com-0.pid');
    assert.equal(nodeFormat('%n.pid', 'box'), 'celery.pid');
    assert.equal(nodeFormat('%%n-%n', 'a@b'), '%a-a');
    assert.equal(nodeFormat('/var/run/%n/%h.pid', 'celery@vm'), '/var/run/celery/vm.pid');
    assert.equal(nodeFormat('%n%I.log', 'w1@box', 2), 'w1-2.log');
    assert.throws(() => nodeFormat('%z', 'a@b'), /Unknown format %z in string "%z"/);
  });
});

describe('pidfile', () => {
  test('created 0644 with "<pid>\\n", refused while held by a live process, released only by its owner', () => {
    const path = join(dir, 'a.pid');
    const lock = createPidlock(path);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o644);
    // held by a live process (our parent, say): refused with Celery's message
    writeFileSync(path, `${process.ppid}\n`);
    assert.throws(() => createPidlock(path), (err: unknown) => err instanceof LockFailed && err.exitCode === 73
      && err.message === `Pidfile (${path}) already exists.\nSeems we're already running? (pid: ${process.ppid})`);
    lock.release(); // names another process now: left alone
    assert.equal(existsSync(path), true);
    // a takeover from that pid (a HUP restart's successor) replaces it
    const taken = createPidlock(path, { takeoverFrom: process.ppid });
    assert.equal(new Pidfile(path).readPid(), process.pid);
    taken.release();
    assert.equal(existsSync(path), false);
  });

  test('stale (dead pid), broken and our own pid are removed and replaced', () => {
    const path = join(dir, 'b.pid');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    for (const [content, said] of [[`${dead.stdout}\n`, 'Stale pidfile exists - Removing it.'], ['12', 'Broken pidfile found - Removing it.'], [`${process.pid}\n`, undefined]] as const) {
      writeFileSync(path, content);
      const lines: string[] = [];
      const lock = createPidlock(path, { warn: (l) => lines.push(l) });
      assert.deepEqual(lines, said ? [said] : []);
      assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
      lock.release();
    }
  });

  test('--umask: octal with a leading zero, else decimal (Celery)', () => {
    assert.equal(parseUmask('022'), 0o22);
    assert.equal(parseUmask('18'), 18);
    assert.throws(() => parseUmask('u=rwx'), /--umask/);
  });
});
