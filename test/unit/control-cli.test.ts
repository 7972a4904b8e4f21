// The pieces of `celeriac inspect/control/status` that need no broker (src/cli/remote.ts): argument
// conversion as celery/bin/control.py:_compile_arguments (types, the variadic rest and its quirk,
// errors), the output of CLIContext.pretty / _say_remote_command_reply (expected texts printed by
// Celery 5.6's own CLIContext for the same values), kombu's dumps for --json, --list, and the
// unknown-command error. The interop test compares whole commands with the real `celery`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PyFloat, parseJsonWithFloats } from '../../src/control/float.ts';
import { PANEL } from '../../src/control/panel.ts';
import { compileArguments, jsonDumps, jsonPretty, listCommands, nodesOnline, pretty, replyText, styleFor, verifyCommand, RemoteCommandError } from '../../src/cli/remote.ts';
import { UsageError } from '../../src/cli/exit.ts';

const plain = styleFor({ isTTY: false });
const panel = (name: string) => PANEL.find((c) => c.name === name)!;

test('arguments: Celery\'s types per command, the variadic rest, extra words ignored by commands without arguments', () => {
  assert.deepEqual(compileArguments(panel('rate_limit'), ['t.add', '10/m']), { task_name: 't.add', rate_limit: '10/m' });
  const tl = compileArguments(panel('time_limit'), ['t.add', '10', '20.5']);
  assert.equal(tl.task_name, 't.add');
  assert.ok(tl.soft instanceof PyFloat && tl.soft.value === 10);
  assert.ok(tl.hard instanceof PyFloat && tl.hard.value === 20.5);
  assert.deepEqual(compileArguments(panel('time_limit'), ['t.add', '1e1']).soft, new PyFloat(10));
  assert.deepEqual(compileArguments(panel('pool_grow'), ['3']), { n: 3 });
  assert.deepEqual(compileArguments(panel('pool_grow'), [' +1_0 ']), { n: 10 });
  assert.deepEqual(compileArguments(panel('pool_grow'), []), {});
  assert.deepEqual(compileArguments(panel('autoscale'), ['10', '2']), { max: 10, min: 2 });
  assert.deepEqual(compileArguments(panel('add_consumer'), ['q', 'ex', 'topic', 'rk']), { queue: 'q', exchange: 'ex', exchange_type: 'topic', routing_key: 'rk' });
  assert.deepEqual(compileArguments(panel('add_consumer'), ['q']), { queue: 'q' });
  assert.deepEqual(compileArguments(panel('conf'), ['yes']), { with_defaults: true });
  assert.deepEqual(compileArguments(panel('conf'), ['OFF']), { with_defaults: false });
  assert.deepEqual(compileArguments(panel('objgraph'), ['Task', '5']), { type: 'Task', num: 5 });
  assert.deepEqual(compileArguments(panel('query_task'), ['a', 'b']), { ids: ['a', 'b'] });
  assert.deepEqual(compileArguments(panel('registered'), []), { taskinfoitems: [] });
  assert.deepEqual(compileArguments(panel('revoke'), ['a', 'b']), { task_id: ['a', 'b'] });
  assert.deepEqual(compileArguments(panel('revoke_by_stamped_headers'), ['k=v']), { headers: ['k=v'] });
  assert.deepEqual(compileArguments(panel('terminate'), ['SIGKILL', 'a', 'b']), { signal: 'SIGKILL', task_id: ['a', 'b'] });
  // Celery's quirk: the words left start at the last one looked at
  assert.deepEqual(compileArguments(panel('terminate'), ['SIGKILL']), { signal: 'SIGKILL', task_id: ['SIGKILL'] });
  assert.deepEqual(compileArguments(panel('terminate'), []), { task_id: [] });
  assert.deepEqual(compileArguments(panel('ping'), ['ignored']), {});
});

test('argument errors: too many words is Celery\'s usage error; a bad number names the argument', () => {
  assert.throws(() => compileArguments(panel('rate_limit'), ['a', 'b', 'c']), (e: unknown) =>
    e instanceof RemoteCommandError && e.exitCode === 64 && e.message === "Command 'rate_limit' takes arguments: <task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>");
  assert.throws(() => compileArguments(panel('pool_grow'), ['abc']), (e: unknown) =>
    e instanceof UsageError && /pool_grow n: invalid literal for int\(\) with base 10: 'abc'/.test(e.message));
  assert.throws(() => compileArguments(panel('time_limit'), ['t', 'x']), /could not convert string to float: 'x'/);
  assert.throws(() => compileArguments(panel('conf'), ['maybe']), /Cannot coerce 'maybe' to type bool/);
});

test('unknown command: Celery\'s text and EX_USAGE', () => {
  assert.throws(() => verifyCommand('inspect', 'foo'), (e: unknown) =>
    e instanceof RemoteCommandError && e.exitCode === 64 &&
    e.message === 'Command foo not recognized. Available inspect commands: active, active_queues, clock, conf, memdump, memsample, objgraph, ping, query_task, registered, report, reserved, revoked, scheduled, stats');
  assert.throws(() => verifyCommand('control', 'stats'), /Available control commands: add_consumer, autoscale, cancel_consumer, disable_events, election, enable_events, heartbeat, pool_grow, pool_restart, pool_shrink, rate_limit, revoke, revoke_by_stamped_headers, shutdown, terminate, time_limit$/);
  assert.throws(() => verifyCommand('inspect', 'hello'), /not recognized/); // not visible in Celery either
  assert.equal(verifyCommand('inspect', 'ping').name, 'ping');
});

test('pretty: what Celery\'s CLIContext.pretty prints for the same values', () => {
  const cases: [unknown, [string, string]][] = [
    [['a', 'b [rate_limit=3/m]'], ['OK', '* a\n* b [rate_limit=3/m]']],
    [[], ['OK', '- empty -']],
    [parseJsonWithFloats('[{"id": "x", "args": [1, 2.0], "kwargs": {"k": null}, "acknowledged": true, "n": "\\u00e9"}]'),
      ['OK', "* {'id': 'x', 'args': [1, 2.0], 'kwargs': {'k': None}, 'acknowledged': True, 'n': 'é'}"]],
    [{ ok: 'pong' }, ['OK', '    pong']],
    [{ error: "KeyError('x')" }, ['ERROR', "    KeyError('x')"]],
    [{ ok: { a: 1 } }, ['OK', '    {\n        "a": 1\n    }']],
    [{ ok: ['x'] }, ['OK', '    * x']],
    [parseJsonWithFloats('{"clock": 12, "b": [1, 2.5, 120.0, Infinity], "a": {"z": {}, "y": []}, "u": "\\u00e9\\n\\""}'),
      ['OK', '{\n    "a": {\n        "y": [],\n        "z": {}\n    },\n    "b": [\n        1,\n        2.5,\n        120.0,\n        Infinity\n    ],\n    "clock": 12,\n    "u": "\\u00e9\\n\\""\n}']],
    ['text\nmore\n', ['OK', 'text\nmore\n']],
    [null, ['OK', 'None']],
    [true, ['OK', 'True']],
    [new PyFloat(3), ['OK', '3.0']],
  ];
  for (const [value, expected] of cases) assert.deepEqual(pretty(value, plain), expected, JSON.stringify(value));
});

test('reply lines: `->  node: OK`, the reply indented by 4 more, -q without the arrow; N nodes online', () => {
  assert.equal(replyText({ 'a@h': { ok: 'pong' } }, { showReply: true, quiet: false, style: plain }), '->  a@h: OK\n        pong\n');
  assert.equal(replyText({ 'a@h': { ok: 'pong' } }, { showReply: false, quiet: false, style: plain }), '->  a@h: OK\n');
  assert.equal(replyText({ 'a@h': null }, { showReply: true, quiet: true, style: plain }), ' a@h: OK\n    None\n');
  assert.equal(replyText({ 'a@h': { ok: '' } }, { showReply: true, quiet: false, style: plain }), '->  a@h: OK\n        \n');
  assert.equal(replyText({ 'a@h': '- rss: x\n' }, { showReply: true, quiet: false, style: plain }), '->  a@h: OK\n    - rss: x\n    \n');
  assert.equal(nodesOnline(1), '\n1 node online.\n');
  assert.equal(nodesOnline(2), '\n2 nodes online.\n');
  const tty = styleFor({ isTTY: true }, {});
  assert.equal(replyText({ n: { error: 'x' } }, { showReply: false, quiet: false, style: tty }), '\x1b[37m\x1b[1m->\x1b[0m  \x1b[36m\x1b[1mn: \x1b[0m\x1b[31m\x1b[1mERROR\x1b[0m\n');
  assert.equal(styleFor({ isTTY: true }, { NO_COLOR: '1' })('x', 'red'), 'x');
});

test('--json: kombu dumps (", " and ": ", keys in arrival order, ensure_ascii, Python floats)', () => {
  const v = parseJsonWithFloats('{"b@h": {"ok": "pong", "t": 1.0, "u": "\\u00e9", "big": 12345678901234567890}, "a@h": [null, true, 0.1]}');
  assert.equal(jsonDumps(v), '{"b@h": {"ok": "pong", "t": 1.0, "u": "\\u00e9", "big": 12345678901234567890}, "a@h": [null, true, 0.1]}');
  assert.equal(jsonDumps([{ a: [] }, {}]), '[{"a": []}, {}]');
  assert.equal(jsonPretty({ b: 1, a: [{}] }), '{\n    "a": [\n        {}\n    ],\n    "b": 1\n}');
});

test('--list: click\'s help layout of Celery\'s commands', () => {
  const text = listCommands('inspect');
  assert.ok(text.startsWith('Inspect Commands:\n  active                          List of tasks currently being executed.\n'), text);
  assert.ok(text.includes(
    '  objgraph [object_type=Request] [num=200 [max_depth=10]]\n' +
    '                                  Create graph of uncollected objects (memory-\n' +
    '                                  leak debugging).\n'), text);
  assert.ok(listCommands('control').includes('  time_limit <task_name> <soft_secs> [hard_secs]\n                                  Tell worker(s) to modify the time limit for\n                                  task by type.\n'));
});
