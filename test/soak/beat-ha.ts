// `npm run beat:ha -- [--minutes N] [--lease S] [--entries K]`: two `celeriac beat -S redis` on a private,
// persistent redis-server for N minutes (default 10) with K entries (default 3) every second, the
// faults cycling: kill -9 the leader (then start it again), SIGSTOP the leader for 2x the lease then
// SIGCONT it, restart Redis (kill -9; AOF fsync always), SIGTERM the leader (warm: releases the lock;
// then start it again), each followed by quiet running. Prints the report: sends, same-id duplicates,
// doubles, misses, zombie sends, worst gap and every takeover time; exits 1 when there was a double, a
// miss, a zombie send, a lost message or a fault nobody took over from.
import { parseArgs } from 'node:util';
import { uniqueName } from '../helpers/peers.ts';
import { HaFleet, haDir, haEntries, iso, reportLines, sleep, startHaRedis, writeCeleriacApp } from '../helpers/beat-ha.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    lease: { type: 'string', default: '3' },
    entries: { type: 'string', default: '3' },
    quiet: { type: 'string', default: '20' },
  },
});
const minutes = Number(values.minutes);
const LEASE = Number(values.lease);
const K = Number(values.entries);
const QUIET = Number(values.quiet) * 1000;
const log = (m: string) => console.log(`${iso(Date.now())} ${m}`);

const redis = await startHaRedis();
const tmp = haDir('beat-ha-soak');
const entries = haEntries(K, uniqueName('ha.soak'));
const app = writeCeleriacApp(tmp.dir, redis.url(0), entries);
const fleet = new HaFleet(redis, app, entries, LEASE);
let code = 0;
let generation = 0;
const end = Date.now() + minutes * 60_000;
log(`beat:ha: ${minutes} min, ${K} entries every 1 s, lease ${LEASE} s, redis on ${redis.port}, queue ${entries.queue}`);

const fresh = (base: string) => `${base}${++generation}`;

try {
  fleet.watch.start();
  const first = fleet.start(fresh('a'));
  await first.waitFor(/beat: Acquired lock/, 30_000);
  fleet.start(fresh('b'));
  await sleep(QUIET);
  const faults = ['kill', 'stop', 'redis', 'term'] as const;
  for (let i = 0; Date.now() < end; i++) {
    const kind = faults[i % faults.length]!;
    const leader = fleet.leader();
    if (!leader || !fleet.beats.get(leader) || fleet.beats.get(leader)!.exited()) {
      log(`no live leader (last sender ${leader}); waiting`);
      await sleep(2000);
      continue;
    }
    const before = fleet.watch.sends.length;
    if (kind === 'kill') {
      log(`kill -9 ${leader}`);
      await fleet.kill(leader);
      await sleep(LEASE * 1000 + 2000);
      fleet.start(fresh(leader.replace(/\d+$/, '')));
    } else if (kind === 'term') {
      log(`SIGTERM ${leader}`);
      await fleet.term(leader);
      await sleep(2000);
      fleet.start(fresh(leader.replace(/\d+$/, '')));
    } else if (kind === 'stop') {
      log(`SIGSTOP ${leader} for ${2 * LEASE} s`);
      const f = await fleet.pause(leader, 2 * LEASE * 1000);
      const b = fleet.get(leader);
      const said = b.lines.find((l) => l.at >= f.contAt! && /lost the lock|may have lapsed|is not ours/.test(l.text));
      await sleep(2000);
      const said2 = said ?? b.lines.find((l) => l.at >= f.contAt! && /lost the lock|may have lapsed|is not ours/.test(l.text));
      log(`SIGCONT ${leader}: ${said2 ? `it logged "${said2.text.replace(/^.*?beat: /, 'beat: ')}" ${said2.at - f.contAt!} ms later` : 'it logged nothing about its lease (!)'}`);
      if (!said2) code = 1;
    } else {
      log('restart redis (kill -9, down 1.5 s)');
      await fleet.restartRedis(1500);
    }
    await sleep(QUIET);
    log(`  ${fleet.watch.sends.length - before} sends since; leader now ${fleet.leader()}`);
  }
} catch (err) {
  log(`beat:ha: ${(err as Error).stack}`);
  code = 1;
}
await fleet.stopAll();
const r = fleet.report();
for (const line of reportLines(`soak ${minutes} min`, r)) console.log(line);
const times = (kind: string) => r.takeovers.filter((x) => x.fault.kind === kind && x.ms !== null).map((x) => x.ms!);
const stat = (xs: number[]) => (xs.length ? `n=${xs.length} min ${Math.min(...xs)} median ${xs.slice().sort((a, b) => a - b)[xs.length >> 1]} max ${Math.max(...xs)} ms` : 'n=0');
console.log(`celeriac-count: beat-ha [soak] takeover kill -9: ${stat(times('kill'))}; SIGSTOP: ${stat(times('stop'))}; SIGTERM: ${stat(times('term'))}; redis restart (from up): ${stat(times('redis-restart'))}`);
console.log(`celeriac-count: beat-ha [soak] messages lost=${fleet.watch.lost} poll_errors=${fleet.watch.errors} processes=${fleet.beats.size}`);
if (r.doubles.length || r.misses.length || r.zombieSends.length || fleet.watch.lost || r.takeovers.some((x) => x.ms === null)) code = 1;
if (code !== 0) {
  for (const b of fleet.beats.values()) {
    const bad = b.grep(/ERROR|CRITICAL|WARNING/).slice(-15);
    if (bad.length) console.log(`--- ${b.name}\n${bad.map((l) => `${iso(l.at)} ${l.text}`).join('\n')}`);
  }
}
await redis.stop();
tmp.remove();
log(`beat:ha: ${code === 0 ? 'OK' : 'FAILED'}`);
process.exit(code);
