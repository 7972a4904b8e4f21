// `celeriac crontab`: next run times of an expression, one ISO 8601 instant a line; Celery's reasons for
// a wrong expression with EX_USAGE (64); no app needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve('bin/celeriac.js');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'crontab', ...args], {
    encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('celeriac crontab', () => {
  test('next runs in UTC by default, each from the previous one; -n', () => {
    const r = cli(['*/15 9-17 * * mon-fri', '--after', '2026-03-06T16:50:00Z', '-n', '4']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2026-03-06T17:00:00+00:00\n2026-03-06T17:15:00+00:00\n2026-03-06T17:30:00+00:00\n2026-03-06T17:45:00+00:00\n');
  });

  test('five lines by default; --after without an offset is wall time in --tz', () => {
    const r = cli(['0 12 1 * *', '--after', '2026-01-01T12:00', '--tz', 'America/New_York']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), [
      '2026-02-01T12:00:00-05:00', '2026-03-01T12:00:00-05:00', '2026-04-01T12:00:00-04:00',
      '2026-05-01T12:00:00-04:00', '2026-06-01T12:00:00-04:00',
    ]);
  });

  test('spring forward: a skipped time runs when the gap ends; --celery-exact gives Python Celery\'s run an hour later', () => {
    let r = cli(['30 2 * * *', '--after', '2026-03-28T12:00', '--tz', 'Europe/Berlin', '-n', '2']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n');
    r = cli(['30 2 * * *', '--after', '2026-03-28T12:00', '--tz', 'Europe/Berlin', '-n', '2', '--celery-exact']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2026-03-29T03:30:00+02:00\n2026-03-30T02:30:00+02:00\n');
  });

  test('autumn: from the second pass of the repeated hour, the entry runs the next day (Python goes back to the first pass)', () => {
    let r = cli(['30 2 * * *', '--after', '2026-10-25T02:10:00+01:00', '--tz', 'Europe/Berlin', '-n', '1']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2026-10-26T02:30:00+01:00\n');
    r = cli(['30 2 * * *', '--after', '2026-10-25T02:10:00+01:00', '--tz', 'Europe/Berlin', '-n', '1', '--celery-exact']);
    assert.equal(r.out, '2026-10-25T02:30:00+02:00\n');
  });

  test('Lord Howe: half-hour offsets and a 30-minute DST change', () => {
    const r = cli(['15 2 * * *', '--after', '2026-10-03T12:00', '--tz', 'Australia/Lord_Howe', '-n', '2']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2026-10-04T02:30:00+11:00\n2026-10-05T02:15:00+11:00\n');
  });

  test("a wrong expression: exit 64 with Celery's reason, one line", () => {
    const cases: Array<[string, RegExp]> = [
      ['* * * * xyz', /invalid crontab expression "\* \* \* \* xyz": ValueError: Invalid weekday literal 'xyz'\.$/m],
      ['60 * * * *', /ValueError: Invalid end range: 60 > 59\.$/m],
      ['* * * *', /ValueError: not enough values to unpack \(expected 5, got 4\) \(five fields/],
      ['* * * * * *', /ValueError: too many values to unpack \(expected 5\)/],
      ['*/ * * * *', /ParseException: empty filter$/m],
      ['-1 * * * *', /ParseException: negative numbers not supported$/m],
      ['0 0 30 2 *', /never runs: RuntimeError: unable to rollover, time specification is probably invalid$/m],
    ];
    for (const [expr, re] of cases) {
      const r = cli(['--after', '2026-01-01T00:00Z', '--', expr]); // `--`: '-1 ...' is not an option
      assert.equal(r.code, 64, `${expr}: ${r.err}`);
      assert.equal(r.out, '');
      assert.match(r.err, /^celeriac crontab: UsageError: /);
      assert.match(r.err, re);
      assert.doesNotMatch(r.err, /\n\s+at /);
    }
  });

  test('a wrong --tz, --after or -n: exit 64 naming the option', () => {
    let r = cli(['* * * * *', '--tz', 'Mars/Olympus']);
    assert.equal(r.code, 64);
    assert.match(r.err, /--tz must be an IANA time zone name .*"Mars\/Olympus"/);
    r = cli(['* * * * *', '--after', 'tomorrow']);
    assert.equal(r.code, 64);
    assert.match(r.err, /--after must be an ISO 8601 date-time/);
    r = cli(['* * * * *', '--after', '2026-02-30T10:00']);
    assert.equal(r.code, 64);
    r = cli(['* * * * *', '-n', '0']);
    assert.equal(r.code, 64);
    assert.match(r.err, /-n\/--count must be an integer >= 1/);
  });
});
