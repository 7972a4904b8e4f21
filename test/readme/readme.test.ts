/**
 * Every shell and TypeScript snippet of README.md runs, as a user would run it, and prints what its
 * comments promise (issue 11).
 *
 * Extraction (snippets.ts): every fenced block; a sh/bash/ts/js block (or one with no language) needs a
 * `<!-- snippet: <id> -->` marker on the line before it whose id is in SPECS below, else the test fails,
 * so a new snippet cannot slip in untested. `// prints X` / `# prints X` comments are promises: the
 * output must have those lines, in that order (`<word>` matches any text without spaces). A promise
 * whose text is prose, not output, is listed under the snippet's `prose` with the check that replaces it.
 *
 * The scratch project, outside the repository (os.tmpdir()): `npm pack` of the repository into a temp
 * dir (of a copy of its files as a clone has them, whose prepack script builds dist/: packRepository()),
 * `npm init -y` and `npm pkg set type=module` (the snippets use top-level await, which tsx compiles only
 * in an ES module; `npm init -y` makes a CommonJS package), then the `install` snippet with `celeriac`
 * replaced by the tarball's path, plus `--prefer-offline --no-audit --no-fund`. TS snippets are written
 * to the file their first line names (`// send.ts`) and run with `npx tsx <file>`: tsx comes with
 * celeriac, so nothing else is installed. Shell snippets run as one bash script per block in the scratch
 * project with its node_modules/.bin first on PATH (see snippets.ts shellScript(): `set -euo pipefail`,
 * a marker before each command so each `# prints X` is checked against its own command's stdout, a
 * background `cmd &` logged to a file and stopped with SIGTERM, then SIGKILL, when the block ends).
 * Snippets run with no CELERY_* variables, no npm_* variables and no NODE_OPTIONS in their environment.
 *
 * Rewrites, and nothing else: `redis://localhost:6379/0` becomes the private `redis://<host>:<port>/15`
 * (CELERIAC_REDIS_HOST/PORT, as every test), `redis-cli` becomes `redis-cli -h <host> -p <port> -n 15`,
 * and in the `install` snippet `npm install celeriac` becomes `npm install <tarball> --prefer-offline
 * --no-audit --no-fund`. Any other Redis or AMQP URL left in a snippet fails the test (it would touch a
 * db other tests or the user use). Redis db 15 is flushed at the start and at the end.
 *
 * The fleet: a real Python Celery worker, `celery -A proj worker -Q python,reports` (test/readme/proj/:
 * proj.tasks.add, proj.tasks.report), runs throughout. The TypeScript worker is the `worker` snippet's
 * own background command (`celeriac worker -A ./tasks.ts -Q celery ...`): the snippet starts and stops it
 * itself; for the snippets that need it afterwards (events, canvas) the harness runs that same command in
 * the background, and it stops it before the snippets that must find the `celery` queue to themselves
 * (protocol pushes a raw message there and decode reads it back with LRANGE).
 *
 * What runs per id (SPECS): install (the scratch set-up), two-commands (not run: `npm run demo` and
 * `npm test` inside a test would recurse; instead package.json must have the scripts the block runs,
 * test/interop/demo.test.ts must run the demo script's program and test/interop/demo-fresh.test.ts
 * `npm run demo` itself, and .ci/run `npm test`), tasks (only written: the app module the worker, events
 * and canvas snippets import), and every other snippet runs.
 *
 * CELERIAC_README=<path> reads another README (a self-test: break a promise there and watch this fail).
 * Outside CI, a missing Python Celery skips the run with the reason; with CI=true nothing skips.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_HOST, REDIS_PORT, redisUrl, requirePython, startPythonWorker, type PythonWorker } from '../helpers/peers.ts';
import {
  extractSnippets, findInOrder, lastCommandStarted, LINE_MARKER, promisesOf, shellCommands, shellScript, splitByCommand,
  type Snippet, type SnippetKind,
} from './snippets.ts';

const REPO = resolve('.');
const README = resolve(process.env.CELERIAC_README ?? 'README.md');
const DB = 15;
const URL = redisUrl(DB);

/** What the harness knows of the state of the fleet and the scratch project while snippets run. */
interface Run {
  t: TestContext;
  scratch: string;
  env: NodeJS.ProcessEnv;
  tarball: string;
  redis: Redis;
  python: PythonWorker;
  /** The worker snippet's background command (`celeriac worker ... &` without the `&`). */
  tsWorkerCommand?: string;
  tsWorker?: Background;
}

/** A check standing for a promise that is prose (`# prints the message as JSON`): gets its command's stdout. */
type ProseCheck = (stdout: string, run: Run) => Promise<void> | void;

interface Spec {
  kind: SnippetKind;
  /** install: the scratch set-up; static: checked, not run (see the file comment); module: only written; run. */
  mode: 'install' | 'static' | 'module' | 'run';
  /** The TypeScript worker must be running (`true`) or must not consume `celery` (`false`) while it runs. */
  tsWorker?: boolean;
  prose?: Record<string, ProseCheck>;
  /** A check after the run, for what the snippet does without printing it. */
  after?: (run: Run, stdout: string) => Promise<void>;
}

const SPECS: Record<string, Spec> = {
  install: { kind: 'sh', mode: 'install' },
  'two-commands': { kind: 'sh', mode: 'static' },
  send: {
    kind: 'ts', mode: 'run',
    // the countdown task reaches the Python worker on `reports`, which holds it for its 60 s
    after: async (run) => {
      await eventually(() => /Task proj\.tasks\.report\[[^\]]+\] received/.test(run.python.log()), 10_000,
        () => `the Python worker never received proj.tasks.report:\n${run.python.log()}`);
      assert.doesNotMatch(run.python.log(), /Task proj\.tasks\.report\[[^\]]+\] succeeded/, 'proj.tasks.report ran before its countdown');
    },
  },
  tasks: { kind: 'ts', mode: 'module' },
  worker: { kind: 'sh', mode: 'run' },
  // keywords with kw() and the producer's typing check, against the worker snippet's TypeScript worker
  arguments: { kind: 'ts', mode: 'run', tsWorker: true },
  events: { kind: 'ts', mode: 'run', tsWorker: true },
  // operating the README's fleet (the Python worker and the worker snippet's ts@<host>): remote control
  // from code and from the CLI, queues, metrics; tracing needs the OpenTelemetry packages the install
  // snippet before it adds to the scratch project
  control: { kind: 'ts', mode: 'run', tsWorker: true },
  operate: { kind: 'sh', mode: 'run', tsWorker: true },
  'events-cli': { kind: 'sh', mode: 'run', tsWorker: true },
  // a -P threads worker of its own (queue cpu) from the installed package: the slot entry in dist/, tsx in each thread
  pools: { kind: 'sh', mode: 'run' },
  // a detached worker of its own (queue svc) started, signalled and stopped; multi's names and show
  service: { kind: 'sh', mode: 'run' },
  // the worker snippet's ts@<host> refuses a task it does not know, and keeps it
  quarantine: { kind: 'sh', mode: 'run', tsWorker: true },
  queues: { kind: 'sh', mode: 'run', tsWorker: true },
  metrics: { kind: 'sh', mode: 'run', tsWorker: true },
  'tracing-install': { kind: 'sh', mode: 'run' },
  tracing: { kind: 'ts', mode: 'run' },
  canvas: {
    kind: 'ts', mode: 'run', tsWorker: true,
    // the link: multiply(add(2, 3), 2) runs on the TypeScript worker (and must be done before the
    // worker stops, or the callback would sit in `celery` when the protocol snippet looks there)
    after: async (run) => {
      await eventually(() => /Task proj\.tasks\.multiply\[[^\]]+\] succeeded in \S+: 10$/m.test(run.tsWorker!.log()), 10_000,
        () => `the link proj.tasks.multiply(5, 2) did not succeed on the TypeScript worker:\n${run.tsWorker!.log()}`);
    },
  },
  // the beat snippets: the module, the file store's beat (the Python worker runs what it sends), the
  // crontab command, and the Redis store's run-time changes
  periodic: { kind: 'ts', mode: 'module' },
  beat: {
    kind: 'sh', mode: 'run', tsWorker: false,
    after: async (run) => {
      await eventually(() => (run.python.log().match(/Task proj\.tasks\.add\[[^\]]+\] succeeded in \S+: 5$/gm) ?? []).length >= 2, 10_000,
        () => `the Python worker did not run beat's proj.tasks.add(2, 3) twice:\n${run.python.log()}`);
    },
  },
  crontab: { kind: 'sh', mode: 'run', tsWorker: false },
  'beat-redis': { kind: 'sh', mode: 'run', tsWorker: false },
  protocol: {
    kind: 'ts', mode: 'run', tsWorker: false,
    after: async (run) => {
      assert.equal(await run.redis.llen('celery'), 1, 'the protocol snippet should leave its one message in "celery"');
    },
  },
  decode: {
    kind: 'sh', mode: 'run', tsWorker: false,
    prose: {
      // the message the protocol snippet pushed, decoded: the same id as the Redis element's
      'the message as JSON': async (stdout, run) => {
        const [element] = await run.redis.lrange('celery', -1, -1);
        assert.ok(element, 'nothing in "celery" to compare with');
        const pushed = JSON.parse(element) as { headers: { id: string } };
        let decoded: { protocol: number; headers: Record<string, unknown>; body: { args: unknown; kwargs: unknown }; delivery_info: Record<string, unknown> };
        try {
          decoded = JSON.parse(stdout) as typeof decoded;
        } catch (err) {
          assert.fail(`decode did not print JSON (${(err as Error).message}):\n${stdout}`);
        }
        // what the protocol snippet pushed: createTaskMessage({ task: 'proj.tasks.add', args: [2, 3], kwargs: {}, countdown: 10 })
        const why = (what: string) => `decode's JSON should show the protocol snippet's message (${what}):\n${stdout}`;
        assert.equal(decoded.protocol, 2, why('protocol 2'));
        assert.equal(decoded.headers.task, 'proj.tasks.add', why('task'));
        assert.equal(decoded.headers.id, pushed.headers.id, why('the id of the element LRANGE celery -1 -1 returns'));
        assert.equal(typeof decoded.headers.eta, 'string', why('countdown: 10 gives an eta'));
        assert.deepEqual(decoded.body.args, [2, 3], why('args'));
        assert.deepEqual(decoded.body.kwargs, {}, why('kwargs'));
        assert.equal(decoded.delivery_info.routing_key, 'celery', why('routing key'));
        assert.match(stdout, /^\{\n {2}"/, why('--pretty indents'));
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------------
// The extractor, on strings

describe('README snippet extraction', () => {
  const ids = ['a', 'b'];
  const fence = '```';

  test('marked blocks come out with their id, language, file name and promises; other languages are ignored', () => {
    const md = [
      '# x', '<!-- snippet: a -->', `${fence}ts`, '// a.ts', 'console.log(6 * 7); // prints 42', fence,
      '', `${fence}text`, 'output, not a snippet', fence,
      '| a | b |', '|---|---|', '| `x` | y |',
      '<!-- snippet: b -->', `${fence}sh`, 'echo hi   # prints hi', 'echo <x> # prints <anything>', fence,
    ].join('\n');
    const { snippets, errors } = extractSnippets(md, ids);
    assert.deepEqual(errors, []);
    assert.deepEqual(snippets.map((s) => [s.id, s.kind, s.fileName, s.line]), [['a', 'ts', 'a.ts', 3], ['b', 'sh', undefined, 15]]);
    assert.deepEqual(promisesOf(snippets[0]!), [{ line: 1, text: '42' }]);
    assert.deepEqual(promisesOf(snippets[1]!).map((p) => p.text), ['hi', '<anything>']);
  });

  test('an unmarked sh, bash, ts, js or language-less block fails; so do unknown ids, stray markers, duplicates and missing known ids', () => {
    for (const lang of ['sh', 'bash', 'ts', 'js', '']) {
      const { errors } = extractSnippets(`<!-- snippet: a -->\n${fence}sh\necho\n${fence}\n<!-- snippet: b -->\n${fence}sh\necho\n${fence}\n\n${fence}${lang}\necho 1\n${fence}\n`, ids);
      assert.equal(errors.length, 1, lang);
      assert.match(errors[0]!, /README line 10: a ```\S+.* block without a <!-- snippet: <id> --> marker/, lang);
    }
    const check = (md: string, re: RegExp) => {
      const { errors } = extractSnippets(md, ids);
      assert.ok(errors.some((e) => re.test(e)), `${re} not in ${JSON.stringify(errors)}`);
    };
    const b = `<!-- snippet: b -->\n${fence}sh\necho\n${fence}\n`;
    check(`<!-- snippet: zz -->\n${fence}sh\necho\n${fence}\n${b}`, /snippet id "zz" is unknown/);
    check(`<!-- snippet: a -->\n\n${fence}sh\necho\n${fence}\n${b}`, /marker <!-- snippet: a --> is not on the line right before a fenced block/);
    check(`<!-- snippet: a -->\n${fence}python\nprint(1)\n${fence}\n${b}`, /snippet "a" is a ```python block/);
    check(`<!-- snippet: a -->\n${fence}sh\necho\n${fence}\n${b}${b}`, /snippet id "b" is used twice/);
    check(b, /the harness knows snippet "a" but the README has no such snippet/);
    check(`<!-- snippet a -->\n${fence}sh\necho\n${fence}\n${b}`, /malformed snippet marker/);
    check(`${b}<!-- snippet: a -->\n${fence}sh\necho\n`, /never closed/);
    // a fence inside a longer fence, and a marker inside a block, are code
    const nested = extractSnippets(`<!-- snippet: a -->\n${fence}${fence}md\n<!-- snippet: zz -->\n${fence}sh\n${fence}\n${fence}${fence}\n${b}`, ids);
    assert.ok(nested.errors.some((e) => /snippet "a" is a ```md block/.test(e)));
    assert.equal(nested.errors.length, 1, JSON.stringify(nested.errors));
  });

  test('promised lines: whole lines, in order, <word> for any text without spaces', () => {
    assert.equal(findInOrder('x\n42\n', ['42']), undefined);
    assert.match(findInOrder('420\n', ['42'])!, /"42" not found/);
    assert.match(findInOrder('43\n', ['42'])!, /"42" not found/);
    assert.equal(findInOrder('worker-online ts@h1\nworker-heartbeat ts@h1.example\n', ['worker-heartbeat ts@<host>']), undefined);
    assert.match(findInOrder('worker-heartbeat celery@h1\n', ['worker-heartbeat ts@<host>'])!, /not found/);
    assert.match(findInOrder('worker-heartbeat ts@\n', ['worker-heartbeat ts@<host>'])!, /not found/);
    assert.match(findInOrder('35\n6\n', ['6', '35'])!, /"35" appears only before the previous promise/);
    assert.equal(findInOrder('6\nnoise\n35\n', ['6', '35']), undefined);
    assert.equal(findInOrder('a.b (c)\n', ['a.b (c)']), undefined);
    assert.match(findInOrder('aXb (c)\n', ['a.b (c)'])!, /not found/);
  });

  test('a shell block runs as one script: assignments carry over, each command\'s output is its own, a failure names its command, background commands stop at the end', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-readme-unit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const code = 'sleep 30 &\nx=$(echo 4)\necho "$x$x"   # prints 44\n# a comment\necho one \\\n  two\nfalse\necho never\n';
    const commands = shellCommands(code);
    assert.deepEqual(commands.map((c) => [c.line, c.background]), [[0, true], [1, false], [2, false], [4, false], [6, false], [7, false]]);
    const started = Date.now();
    const r = await run('bash', ['-c', shellScript(commands, dir, 2)], { cwd: dir, timeoutMs: 20_000 });
    assert.ok(Date.now() - started < 10_000, 'the background sleep was not stopped');
    assert.equal(r.code, 1);
    const parts = splitByCommand(r.stdout, commands.length);
    assert.equal(parts[2]!.trim(), '44');
    assert.equal(parts[3]!.trim(), 'one two');
    assert.equal(lastCommandStarted(r.stdout), 4);
    assert.ok(!r.stdout.includes(LINE_MARKER(5)), 'the command after the failing one ran');
  });
});

// ---------------------------------------------------------------------------------------------------
// The README itself

const markdown = readFileSync(README, 'utf8');
const extraction = extractSnippets(markdown, Object.keys(SPECS));

test('README.md: every shell/TS/JS block is a snippet this harness knows, of the kind it expects', () => {
  assert.deepEqual(extraction.errors, [], `${README}:\n${extraction.errors.join('\n')}`);
  for (const s of extraction.snippets) {
    assert.equal(s.kind, SPECS[s.id]!.kind, `snippet "${s.id}" (README line ${s.line}) is a ${s.lang} block; the harness runs it as ${SPECS[s.id]!.kind}`);
    const prose = Object.keys(SPECS[s.id]!.prose ?? {});
    for (const p of prose) {
      assert.ok(promisesOf(s).some((q) => q.text === p), `the harness checks "# prints ${p}" for "${s.id}", which the snippet no longer says`);
    }
  }
});

test('two-commands: the scripts exist, and the demo and test suites run them (they cannot run inside a test)', () => {
  const snippet = extraction.snippets.find((s) => s.id === 'two-commands');
  assert.ok(snippet, 'no two-commands snippet');
  const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  const run = shellCommands(snippet.code).map((c) => c.text.replace(/\s+#.*$/, '').trim());
  assert.ok(run.length > 0);
  for (const command of run) {
    const m = /^npm (?:run (\S+)|(test))$/.exec(command);
    assert.ok(m, `two-commands: "${command}" is not an npm script the harness can check`);
    const name = m[1] ?? m[2]!;
    assert.ok(scripts[name], `package.json has no "${name}" script`);
    if (name === 'demo') {
      const program = /\S+\.(?:ts|js|mjs)\b/.exec(scripts.demo!);
      assert.ok(program, `the demo script runs no program file: ${scripts.demo}`);
      assert.ok(readFileSync(join(REPO, 'test/interop/demo.test.ts'), 'utf8').includes(program[0]), `test/interop/demo.test.ts does not run ${program[0]}`);
      assert.match(readFileSync(join(REPO, 'test/interop/demo-fresh.test.ts'), 'utf8'), /\['run', 'demo'\]/, 'test/interop/demo-fresh.test.ts does not run npm run demo');
    } else if (name === 'test') {
      assert.match(readFileSync(join(REPO, '.ci/run'), 'utf8'), /^npm test\b/m, '.ci/run does not run npm test');
    } else {
      assert.fail(`two-commands: no check for "npm run ${name}"`);
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// Running them

test('README.md snippets run in a scratch project from the packed package and print what they promise', { timeout: 240_000 }, async (t) => {
  if (!requirePython(t)) return;
  assert.deepEqual(extraction.errors, [], 'the extraction failed (see the test above)');
  const timings: string[] = [];
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  };
  const top = mkdtempSync(join(tmpdir(), 'celeriac-readme-'));
  const scratch = join(top, 'app');
  const packDir = join(top, 'pack');
  mkdirSync(scratch);
  mkdirSync(packDir);
  const redis = new Redis(URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushdb();
  let python: PythonWorker | undefined;
  const state: Partial<Run> = {};
  t.after(async () => {
    await state.tsWorker?.stop();
    await python?.stop();
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
    killAll();
    t.diagnostic(timings.join('; '));
    if (process.env.CELERIAC_README_KEEP) t.diagnostic(`scratch project kept: ${scratch}`);
    else {
      try {
        rmSync(top, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (err) {
        t.diagnostic(`could not remove the scratch project ${top}: ${(err as Error).message}`);
      }
    }
  });

  const readmeDir = resolve('test/readme');
  const pythonStarted = timed('python worker', () => startPythonWorker(
    ['-A', 'proj', 'worker', '-Q', 'python,reports', '-P', 'threads', '-c', '4', '-l', 'info', '--without-mingle', '--without-gossip'],
    { cwd: readmeDir, env: { README_REDIS_URL: URL, PYTHONPATH: readmeDir, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '' } },
  ));
  pythonStarted.catch(() => undefined); // awaited below

  const env = snippetEnv(scratch);
  const initialized = timed('npm init', async () => {
    for (const args of [['init', '-y'], ['pkg', 'set', 'type=module']]) {
      const r = await run('npm', args, { cwd: scratch, env, timeoutMs: 30_000 });
      assert.equal(r.code, 0, `npm ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    }
  });
  initialized.catch(() => undefined); // awaited below

  const tarball = await timed('npm pack', () => packRepository(packDir));

  await initialized;
  python = await pythonStarted;
  Object.assign(state, { t, scratch, env, tarball, redis, python });
  const ctx = state as Run;
  // the worker snippet's background command, for the snippets that need the TypeScript worker after it
  const workerSnippet = extraction.snippets.find((s) => s.id === 'worker');
  if (workerSnippet) ctx.tsWorkerCommand = shellCommands(rewrite(workerSnippet, ctx)).find((c) => c.background)?.text.replace(/\s*&\s*(#.*)?$/, '');

  for (const snippet of extraction.snippets) {
    const spec = SPECS[snippet.id]!;
    await t.test(`${snippet.id} (README line ${snippet.line})`, async () => {
      await timed(snippet.id, async () => {
        const code = rewrite(snippet, ctx);
        if (spec.tsWorker === true) await startTsWorker(ctx);
        if (spec.tsWorker === false && ctx.tsWorker) {
          await ctx.tsWorker.stop();
          delete ctx.tsWorker;
        }
        if (snippet.id === 'protocol') assert.equal(await redis.llen('celery'), 0, '"celery" should be empty before the protocol snippet');
        switch (spec.mode) {
          case 'static':
            return; // checked by its own test above
          case 'install':
            await runShell(snippet, code, ctx, { cwd: scratch, noPromises: true });
            assert.ok(existsSync(join(scratch, 'node_modules/celeriac/package.json')), 'celeriac is not in the scratch project\'s node_modules');
            // the TS snippets run with `npx tsx`, which must come with celeriac (else npx would fetch it)
            assert.ok(existsSync(join(scratch, 'node_modules/.bin/tsx')), 'tsx did not come with celeriac: the README\'s .ts snippets would need npm install tsx');
            return;
          case 'module':
            writeSnippetFile(snippet, code, scratch);
            return;
          case 'run': {
            const stdout = snippet.kind === 'sh' ? await runShell(snippet, code, ctx, { cwd: scratch }) : await runScript(snippet, code, ctx);
            await spec.after?.(ctx, stdout);
            return;
          }
        }
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Helpers

/**
 * `npm pack` of the repository as a clone has it: its files (tracked, and new ones not ignored) copied
 * to `<dest>/tree` with no dist/ and node_modules/ linked, then `npm pack` there, whose prepack script
 * builds dist/. Packing in the repository itself would have prepack delete and rebuild its dist/ under
 * whatever else is running. Returns the tarball's path.
 */
async function packRepository(dest: string): Promise<string> {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  const tree = join(dest, 'tree');
  for (const rel of listed.stdout.split('\0').filter(Boolean)) {
    const from = join(REPO, rel);
    if (rel.startsWith('dist/') || !existsSync(from)) continue;
    mkdirSync(dirname(join(tree, rel)), { recursive: true });
    copyFileSync(from, join(tree, rel));
  }
  symlinkSync(join(REPO, 'node_modules'), join(tree, 'node_modules'), 'dir');
  const packed = await run('npm', ['pack', '--pack-destination', dest, '--silent'], { cwd: tree, env: snippetEnv(tree), timeoutMs: 150_000 });
  assert.equal(packed.code, 0, `npm pack:\n${packed.stdout}${packed.stderr}`);
  const files = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  assert.equal(files.length, 1, `npm pack made ${files.join(', ') || 'no tarball'}`);
  rmSync(tree, { recursive: true, force: true });
  return join(dest, files[0]!);
}

/** The harness's rewrites (see the file comment), and a check that no other broker URL is left. */
function rewrite(snippet: Snippet, run: Run): string {
  let code = snippet.code.replaceAll('redis://localhost:6379/0', URL).replace(/\bredis-cli\b/g, `redis-cli -h ${REDIS_HOST} -p ${REDIS_PORT} -n ${DB}`);
  if (snippet.id === 'install') {
    assert.match(code, /\bnpm install celeriac\b/, 'the install snippet no longer says npm install celeriac');
    code = code.replace(/\bnpm install celeriac\b/, `npm install '${run.tarball}' --prefer-offline --no-audit --no-fund`);
  }
  for (const m of code.matchAll(/\b(?:redis|rediss|amqp|amqps|sentinel):\/\/[^\s'"`]*/g)) {
    assert.equal(m[0], URL, `snippet "${snippet.id}" names ${m[0]}; the harness rewrites only redis://localhost:6379/0 (to its private db ${DB})`);
  }
  return code;
}

function snippetEnv(scratch: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(scratch, 'node_modules/.bin')}:${process.env.PATH ?? ''}` };
  for (const name of Object.keys(env)) {
    if (name.startsWith('CELERY_') || name.startsWith('npm_') || name === 'NODE_OPTIONS' || name === 'NODE_TEST_CONTEXT' || name === 'INIT_CWD') delete env[name];
  }
  return env;
}

function writeSnippetFile(snippet: Snippet, code: string, scratch: string): string {
  const name = snippet.fileName ?? `${snippet.id}.${snippet.kind}`;
  writeFileSync(join(scratch, name), code);
  return name;
}

/** Writes a TS/JS snippet to its file, runs `npx tsx <file>`, checks its promises; returns its stdout. */
async function runScript(snippet: Snippet, code: string, ctx: Run): Promise<string> {
  const file = writeSnippetFile(snippet, code, ctx.scratch);
  const r = await run('npx', ['tsx', file], { cwd: ctx.scratch, env: ctx.env, timeoutMs: 45_000 });
  const report = `npx tsx ${file} ${r.timedOut ? 'timed out' : `exited ${r.code ?? r.signal}`}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}${workerLogs(ctx)}`;
  assert.equal(r.code, 0, report);
  if (r.stderr.trim() !== '') ctx.t.diagnostic(`npx tsx ${file} wrote on stderr: ${r.stderr.trim()}`);
  const { literal, prose } = splitPromises(snippet);
  const missing = findInOrder(r.stdout, literal);
  assert.equal(missing, undefined, `${missing}\n${report}`);
  for (const p of prose) await SPECS[snippet.id]!.prose![p]!(r.stdout, ctx);
  return r.stdout;
}

/** Runs a shell snippet as one bash script (snippets.ts shellScript), checks each command's promises; returns its stdout. */
async function runShell(snippet: Snippet, code: string, ctx: Run, options: { cwd: string; noPromises?: boolean }): Promise<string> {
  const commands = shellCommands(code);
  const logDir = mkdtempSync(join(ctx.scratch, '..', `bg-${snippet.id}-`));
  const r = await run('bash', ['-c', shellScript(commands, logDir)], { cwd: options.cwd, env: ctx.env, timeoutMs: 90_000 });
  const bgLogs = readdirSync(logDir).map((f) => `--- ${f}\n${readFileSync(join(logDir, f), 'utf8')}`).join('');
  const failed = lastCommandStarted(r.stdout);
  const report = `${r.timedOut ? 'timed out' : `exited ${r.code ?? r.signal}`}` +
    `${failed >= 0 && r.code !== 0 ? ` at "${commands[failed]?.text.trim()}"` : ''}\n--- script\n${code}--- stdout\n${r.stdout}--- stderr\n${r.stderr}${bgLogs}${workerLogs(ctx)}`;
  assert.equal(r.code, 0, `snippet "${snippet.id}" ${report}`);
  const outputs = splitByCommand(r.stdout, commands.length);
  const { literal, prose } = splitPromises(snippet);
  if (options.noPromises) assert.deepEqual([...literal, ...prose], [], `snippet "${snippet.id}" promises output the harness does not check`);
  const proseChecks = SPECS[snippet.id]!.prose ?? {};
  for (const p of promisesOf(snippet)) {
    let n = commands.findIndex((c) => p.line >= c.line && p.line < c.line + c.text.split('\n').length);
    // a `# prints` line of its own (one per output line) belongs to the command above it
    if (n < 0) for (let i = commands.length - 1; i >= 0 && n < 0; i--) if (commands[i]!.line < p.line) n = i;
    assert.ok(n >= 0 && !commands[n]!.background, `snippet "${snippet.id}": "# prints ${p.text}" is not on a foreground command`);
    if (p.text in proseChecks) await proseChecks[p.text]!(outputs[n]!, ctx);
    else {
      const missing = findInOrder(outputs[n]!, [p.text]);
      assert.equal(missing, undefined, `snippet "${snippet.id}", command "${commands[n]!.text.trim()}": ${missing}\n${report}`);
    }
  }
  return outputs.join('\n');
}

function splitPromises(snippet: Snippet): { literal: string[]; prose: string[] } {
  const prose = SPECS[snippet.id]!.prose ?? {};
  const all = promisesOf(snippet).map((p) => p.text);
  return { literal: all.filter((p) => !(p in prose)), prose: all.filter((p) => p in prose) };
}

function workerLogs(ctx: Run): string {
  return `\n--- python worker\n${ctx.python.log().slice(-4000)}${ctx.tsWorker ? `\n--- TypeScript worker\n${ctx.tsWorker.log().slice(-4000)}` : ''}`;
}

/** Starts the worker snippet's own background command (unless running) and waits for its `ready.`. */
async function startTsWorker(ctx: Run): Promise<void> {
  if (ctx.tsWorker) return;
  assert.ok(ctx.tsWorkerCommand, 'no TypeScript worker command: the worker snippet has no background command');
  const worker = background(ctx.tsWorkerCommand, ctx.scratch, ctx.env);
  ctx.tsWorker = worker;
  await eventually(() => / ready\.$/m.test(worker.log()) || worker.exited(), 30_000, () => `the TypeScript worker did not start:\n${worker.log()}`);
  assert.ok(!worker.exited(), `the TypeScript worker exited:\n${worker.log()}`);
}

async function eventually(ok: () => boolean, timeoutMs: number, message: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) assert.fail(message());
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }

const groups = new Set<number>();

/** Kills what is left of every process group this file started (SIGKILL): the backstop after a failure. */
function killAll(): void {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch { /* gone */ }
  }
  groups.clear();
}

/** Runs a command in its own process group; on timeout, SIGTERM to the group, SIGKILL 5 s later. */
function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    groups.add(child.pid!);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid!, 'SIGTERM');
      setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), 5_000).unref();
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      groups.delete(child.pid!);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch { /* gone */ }
}

interface Background { log(): string; exited(): boolean; stop(): Promise<void> }

/** A command line run with bash in the background (its own process group); stop(): SIGTERM, SIGKILL after 10 s. */
function background(commandLine: string, cwd: string, env: NodeJS.ProcessEnv): Background {
  const child = spawn('bash', ['-c', `exec ${commandLine}`], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(child.pid!);
  let log = '';
  let done = false;
  child.stdout.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (log += d.toString('utf8')));
  child.on('error', (err) => (log += `spawn failed: ${err.message}\n`));
  const closed = new Promise<void>((r) => child.on('close', () => {
    done = true;
    groups.delete(child.pid!);
    r();
  }));
  return {
    log: () => log,
    exited: () => done,
    async stop() {
      if (done) return;
      signalGroup(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), 10_000);
      await closed;
      clearTimeout(timer);
    },
  };
}
