/**
 * The remote-control commands Celery 5.6 registers (`celery/worker/control.py`'s `Panel.meta`): name,
 * kind (`inspect` asks, `control` acts), the positional arguments of the command line with the type
 * Celery converts each to, the variadic rest, the signature and help `--list` shows. The CLI builds a
 * command's arguments from them exactly as `celery/bin/control.py:_compile_arguments` does.
 */

export type ArgType = 'str' | 'int' | 'float' | 'bool';

export interface PanelCommand {
  name: string;
  type: 'inspect' | 'control';
  /** Positional arguments `[name, type]`, taken in order. */
  args: readonly (readonly [string, ArgType])[];
  /** The argument that gets the remaining words as a list. */
  variadic: string | null;
  signature: string | null;
  help: string;
  /** Shown by `--list` and accepted on the command line (`hello` is not). */
  visible: boolean;
  /** The timeout Celery's `Panel.meta` gives the command (the CLI uses `--timeout`, default 1). */
  defaultTimeout: number;
}

function cmd(name: string, type: PanelCommand['type'], help: string, o: Partial<Omit<PanelCommand, 'name' | 'type' | 'help'>> = {}): PanelCommand {
  return { name, type, help, args: o.args ?? [], variadic: o.variadic ?? null, signature: o.signature ?? null, visible: o.visible ?? true, defaultTimeout: o.defaultTimeout ?? 1 };
}

/** Every command, sorted by name. */
export const PANEL: readonly PanelCommand[] = Object.freeze([
  cmd('active', 'inspect', 'List of tasks currently being executed.'),
  cmd('active_queues', 'inspect', 'List the task queues a worker is currently consuming from.'),
  cmd('add_consumer', 'control', 'Tell worker(s) to consume from task queue by name.', {
    args: [['queue', 'str'], ['exchange', 'str'], ['exchange_type', 'str'], ['routing_key', 'str']], signature: '<queue> [exchange [type [routing_key]]]',
  }),
  cmd('autoscale', 'control', 'Modify autoscale settings.', { args: [['max', 'int'], ['min', 'int']], signature: '[max [min]]' }),
  cmd('cancel_consumer', 'control', 'Tell worker(s) to stop consuming from task queue by name.', { args: [['queue', 'str']], signature: '<queue>' }),
  cmd('clock', 'inspect', 'Get current logical clock value.'),
  cmd('conf', 'inspect', 'List configuration.', { args: [['with_defaults', 'bool']], signature: '[include_defaults=False]' }),
  cmd('disable_events', 'control', 'Tell worker(s) to stop sending task-related events.'),
  cmd('election', 'control', 'Hold election.'),
  cmd('enable_events', 'control', 'Tell worker(s) to send task-related events.'),
  cmd('heartbeat', 'control', 'Tell worker(s) to send event heartbeat immediately.'),
  cmd('hello', 'inspect', 'Request mingle sync-data.', { visible: false }),
  cmd('memdump', 'inspect', 'Dump statistics of previous memsample requests.', { args: [['samples', 'int']], signature: '[n_samples=10]' }),
  cmd('memsample', 'inspect', 'Sample current RSS memory usage.'),
  cmd('objgraph', 'inspect', 'Create graph of uncollected objects (memory-leak debugging).', {
    args: [['type', 'str'], ['num', 'int'], ['max_depth', 'int']], signature: '[object_type=Request] [num=200 [max_depth=10]]', defaultTimeout: 60,
  }),
  cmd('ping', 'inspect', 'Ping worker(s).', { defaultTimeout: 0.2 }),
  cmd('pool_grow', 'control', 'Grow pool by n processes/threads.', { args: [['n', 'int']], signature: '[N=1]' }),
  cmd('pool_restart', 'control', 'Restart execution pool.'),
  cmd('pool_shrink', 'control', 'Shrink pool by n processes/threads.', { args: [['n', 'int']], signature: '[N=1]' }),
  cmd('query_task', 'inspect', 'Query for task information by id.', { variadic: 'ids', signature: '[id1 [id2 [... [idN]]]]' }),
  cmd('rate_limit', 'control', 'Tell worker(s) to modify the rate limit for a task by type.', {
    args: [['task_name', 'str'], ['rate_limit', 'str']], signature: '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>',
  }),
  cmd('registered', 'inspect', 'List of registered tasks.', { variadic: 'taskinfoitems', signature: '[attr1 [attr2 [... [attrN]]]]' }),
  cmd('report', 'inspect', 'Information about Celery installation for bug reports.'),
  cmd('reserved', 'inspect', 'List of currently reserved tasks, not including scheduled/active.'),
  cmd('revoke', 'control', 'Revoke task by task id (or list of ids).', { variadic: 'task_id', signature: '[id1 [id2 [... [idN]]]]' }),
  cmd('revoke_by_stamped_headers', 'control', 'Revoke task by header (or list of headers).', {
    variadic: 'headers', signature: '[key1=value1 [key2=value2 [... [keyN=valueN]]]]',
  }),
  cmd('revoked', 'inspect', 'List of revoked task-ids.'),
  cmd('scheduled', 'inspect', 'List of currently scheduled ETA/countdown tasks.'),
  cmd('shutdown', 'control', 'Shutdown worker(s).'),
  cmd('stats', 'inspect', 'Request worker statistics/information.'),
  cmd('terminate', 'control', 'Terminate task by task id (or list of ids).', { args: [['signal', 'str']], variadic: 'task_id', signature: '<signal> [id1 [id2 [... [idN]]]]' }),
  cmd('time_limit', 'control', 'Tell worker(s) to modify the time limit for task by type.', {
    args: [['task_name', 'str'], ['soft', 'float'], ['hard', 'float']], signature: '<task_name> <soft_secs> [hard_secs]',
  }),
]);

/** The visible commands of one kind, by name (Celery's `_get_commands_of_type`). */
export function commandsOf(type: PanelCommand['type']): PanelCommand[] {
  return PANEL.filter((c) => c.type === type && c.visible);
}
