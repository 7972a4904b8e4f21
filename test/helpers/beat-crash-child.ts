// A beat on the file store that kills itself (SIGKILL) at a chosen step of claim, persist and send, for
// test/interop/beat-file-restart.test.ts. It is the real Scheduler + FileBeatStore + BeatService sending
// through the app's sendTask to a real Redis broker; only the crash is added, by wrapping:
//
//   before-claim           store.claim, before anything is written
//   before-publish         the publisher, after the claim line is fsynced, before the message goes out
//   before-sent            store.sent, after the broker confirmed, before the `sent` line is written
//   torn-claim-line        node:fs writeSync of a `claims` journal line: half of it written, then killed
//   torn-sent-line         the same for a `sent` line
//   compact-before-rename  node:fs renameSync of the compaction's .tmp over the snapshot: killed before it
//   compact-after-rename   killed after the rename, before the journal is emptied
//
// (the node:fs wrappers go through module.syncBuiltinESMExports, so the store's `import { writeSync }
// from 'node:fs'` sees them). The crash happens at the `at`-th occurrence (after the child started;
// the compaction of setup() does not count), so a few slots go out normally first.
//
// Usage: node --import tsx test/helpers/beat-crash-child.ts '<json Config>'
// It appends one JSON object a line to `events` (appendFileSync: the page cache keeps what was written
// before a SIGKILL): start, initial, pending, claiming, claimed, publishing, confirmed, marking, marked,
// crash, stopping, stopped. Without a crash it runs `runMs` and stops warm; SIGTERM stops it warm too.
import { appendFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { Celery } from '../../src/app.ts';
import { beatPublisher } from '../../src/beat/publisher.ts';
import { Scheduler, type BeatPublisher } from '../../src/beat/scheduler.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import type { Schedule, ScheduleJSON } from '../../src/beat/schedules/base.ts';
import { BeatService } from '../../src/beat/service.ts';
import type { Claim, ClaimRequest, EntryDefinition } from '../../src/beat/store.ts';
import { FileBeatStore } from '../../src/beat/stores/file.ts';
import { createLogger } from '../../src/worker/log.ts';

export const CRASH_POINTS = [
  'before-claim', 'before-publish', 'before-sent', 'torn-claim-line', 'torn-sent-line', 'compact-before-rename', 'compact-after-rename',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface CrashChildConfig {
  path: string;
  broker: string;
  queue: string;
  events: string;
  /** Entries <prefix>e0..e{n-1}, each every `interval` seconds (a prefix per run: slot ids stay unique). */
  entries: number;
  prefix: string;
  interval: number;
  crash: CrashPoint | null;
  /** The crash happens at this occurrence of its point (1 = the first). */
  at: number;
  /** Without a crash: run this long, then stop warm. */
  runMs: number;
  /** FileStoreOptions.compactEvery. */
  compactEvery: number;
  /** Extra wait before each publish (to land a SIGTERM mid-tick). */
  publishDelayMs?: number;
}

export const CRASH_TASK = 'beat.crash.tick';

const cfg = JSON.parse(process.argv[2]!) as CrashChildConfig;
const ev = (e: Record<string, unknown>) => appendFileSync(cfg.events, JSON.stringify({ pid: process.pid, t: Date.now(), ...e }) + '\n');
let armed = false;
let occurrences = 0;

function die(where: string): never {
  ev({ ev: 'crash', point: cfg.crash, where });
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before kill() returns to a signal-free process; never reached
  throw new Error('not killed');
}

/** True when this is the occurrence of `point` to crash at. */
function hit(point: CrashPoint): boolean {
  return armed && cfg.crash === point && ++occurrences === cfg.at;
}

// ---- node:fs wrappers (torn journal lines, compaction) -----------------------------------------
const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
if (cfg.crash === 'torn-claim-line' || cfg.crash === 'torn-sent-line') {
  const prefix = cfg.crash === 'torn-claim-line' ? '{"claims"' : '{"sent"';
  const point = cfg.crash;
  const writeSync = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = (fd: number, data: unknown, ...rest: unknown[]) => {
    if (typeof data === 'string' && data.startsWith(prefix) && hit(point)) {
      writeSync(fd, data.slice(0, Math.floor(data.length / 2)));
      fs.fsyncSync(fd);
      die(`${point}: ${Math.floor(data.length / 2)} of ${data.length} bytes written`);
    }
    return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
  };
  syncBuiltinESMExports();
}
if (cfg.crash === 'compact-before-rename' || cfg.crash === 'compact-after-rename') {
  const point = cfg.crash;
  const renameSync = fs.renameSync;
  (fs as { renameSync: unknown }).renameSync = (from: string, to: string) => {
    if (from === `${cfg.path}.tmp` && hit(point)) {
      if (point === 'compact-after-rename') renameSync(from, to);
      die(point);
    }
    renameSync(from, to);
  };
  syncBuiltinESMExports();
}

// ---- the beat ------------------------------------------------------------------------------------
const logger = createLogger((process.env.CELERIAC_TEST_LOG as 'debug' | undefined) ?? 'error');
const app = new Celery({ broker_url: cfg.broker, env: {} });
const fromJSON = (json: ScheduleJSON): Schedule => {
  if (json.type !== 'interval') throw new Error(`not an interval: ${json.type}`);
  return schedule(json.every, { relative: json.relative });
};
let scheduler!: Scheduler;
const store = new FileBeatStore({
  path: cfg.path, timezone: 'UTC', logger, fromJSON, dueAt: (e, now) => scheduler.dueAt(e, now), compactEvery: cfg.compactEvery,
});

const claim = store.claim.bind(store);
store.claim = async (requests: readonly ClaimRequest[]): Promise<Claim[]> => {
  if (requests.length > 0 && hit('before-claim')) die('before-claim');
  ev({
    ev: 'claiming',
    requests: requests.map((r) => ({ name: r.entry.name, slot: r.slot, taskId: r.taskId, prevRunAt: r.entry.lastRunAt, runAt: r.meta.lastRunAt })),
  });
  const got = await claim(requests);
  ev({ ev: 'claimed', taskIds: got.map((c) => c.taskId) });
  return got;
};
const sent = store.sent.bind(store);
store.sent = async (claims: readonly Claim[]): Promise<void> => {
  if (claims.length > 0 && hit('before-sent')) die('before-sent');
  ev({ ev: 'marking', taskIds: claims.map((c) => c.taskId) });
  await sent(claims);
  ev({ ev: 'marked', taskIds: claims.map((c) => c.taskId) });
};
const pending = store.pending.bind(store);
let reportedPending = false;
store.pending = async (): Promise<Claim[]> => {
  const got = await pending();
  if (!reportedPending) {
    reportedPending = true;
    ev({ ev: 'pending', claims: got.map((c) => ({ name: c.name, slot: c.slot, taskId: c.taskId })) });
  }
  return got;
};

const real = beatPublisher((name, args, kwargs, options) => app.sendTask(name, args, kwargs, options));
const publisher: BeatPublisher = {
  publish: async (c) => {
    if (hit('before-publish')) die('before-publish');
    ev({ ev: 'publishing', taskId: c.taskId });
    process.stdout.write(`publishing ${c.taskId}\n`);
    if (cfg.publishDelayMs) await new Promise((r) => setTimeout(r, cfg.publishDelayMs));
    await real.publish(c);
    ev({ ev: 'confirmed', taskId: c.taskId });
  },
};

const statics: EntryDefinition[] = Array.from({ length: cfg.entries }, (_, i) => ({
  name: `${cfg.prefix}e${i}`, task: CRASH_TASK, schedule: schedule(cfg.interval), args: [`${cfg.prefix}e${i}`], kwargs: {}, options: { queue: cfg.queue }, enabled: true,
}));
scheduler = new Scheduler({ store, publisher, context: { timezone: 'UTC' }, logger, maxInterval: 1000 });
const service = new BeatService({ scheduler, store, statics, logger, maxInterval: 1000 });

let stopping = false;
async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  ev({ ev: 'stopping', why });
  await service.stop();
  await app.close();
  ev({ ev: 'stopped' });
  process.exit(service.error ? 1 : 0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));

ev({ ev: 'start' });
await service.start();
armed = true;
ev({ ev: 'initial', entries: (await store.list()).map((e) => ({ name: e.name, lastRunAt: e.lastRunAt })) });
process.stdout.write('started\n');
if (cfg.crash === null) setTimeout(() => void stop('runMs'), cfg.runMs);
else setTimeout(() => void stop(`no crash at ${cfg.crash} within 30 s`), 30_000);
