"""Ground truth for test/unit/routing.test.ts: how Celery 5.6 routes and addresses tasks.

Each case builds an app with the given settings and sends a task with `send_task` on an in-memory
broker; kombu's Producer.publish is patched to record the exchange, routing key, declared queues,
delivery mode and priority it was called with. Run: .venv-celery/bin/python test/python/routing_truth.py
The output is embedded as literals in the TypeScript test (re-run and compare after a Celery upgrade).
"""
import json
import re

from celery import Celery
from kombu import Exchange, Queue
from kombu.messaging import Producer

captured = {}


def fake_publish(self, body, routing_key=None, delivery_mode=None, exchange=None, declare=None,
                 priority=0, serializer=None, compression=None, **kw):
    ex = exchange.name if isinstance(exchange, Exchange) else exchange
    captured.update(
        exchange=ex, routing_key=routing_key, delivery_mode=delivery_mode, priority=priority,
        serializer=serializer, compression=compression,
        declare=[{'name': q.name, 'exchange': q.exchange.name, 'exchange_type': q.exchange.type,
                  'routing_key': q.routing_key, 'queue_arguments': q.queue_arguments} for q in (declare or [])],
    )


Producer.publish = fake_publish


def route_fn(name, args, kwargs, options, task=None, **kw):
    if name.startswith('fn.'):
        return {'queue': 'fnq', 'priority': 7}
    return None


CASES = {
    'default': ({}, 'tasks.add', {}),
    'queue_option': ({}, 'tasks.add', {'queue': 'other'}),
    'dict_exact': ({'task_routes': {'tasks.add': 'math'}}, 'tasks.add', {}),
    'dict_exact_route_dict': ({'task_routes': {'tasks.add': {'queue': 'math', 'priority': 5}}}, 'tasks.add', {}),
    'dict_glob': ({'task_routes': {'feed.tasks.*': {'queue': 'feeds'}}}, 'feed.tasks.import_feed', {}),
    'dict_glob_nomatch': ({'task_routes': {'feed.tasks.*': {'queue': 'feeds'}}}, 'other.task', {}),
    'exact_beats_glob': ({'task_routes': {'a.*': 'glob', 'a.b': 'exact'}}, 'a.b', {}),
    'regex': ({'task_routes': ([(re.compile(r'(video|image)\.tasks\..*'), {'queue': 'media'})],)}, 'video.tasks.encode', {}),
    'regex_match_anchors_start': ({'task_routes': ([(re.compile(r'tasks'), 'rx')],)}, 'my.tasks.x', {}),
    'list_of_routers': ({'task_routes': [{'x.*': 'first'}, {'x.y': 'second'}]}, 'x.y', {}),
    'function': ({'task_routes': (route_fn,)}, 'fn.go', {}),
    'function_none_falls_to_default': ({'task_routes': (route_fn,)}, 'nofn.go', {}),
    'option_overrides_route': ({'task_routes': {'tasks.add': {'queue': 'math', 'priority': 5}}}, 'tasks.add', {'queue': 'urgent', 'priority': 9}),
    'task_queues_topic': ({'task_queues': [Queue('tq', Exchange('tex', type='topic'), routing_key='t.#')]}, 'tasks.add', {'queue': 'tq'}),
    'task_queues_topic_rk': ({'task_queues': [Queue('tq', Exchange('tex', type='topic'), routing_key='t.#')]}, 'tasks.add', {'queue': 'tq', 'routing_key': 't.special'}),
    'task_queues_plain_name': ({'task_queues': [Queue('plain')]}, 'tasks.add', {'queue': 'plain'}),
    'task_queues_default_missing': ({'task_queues': [Queue('plain')]}, 'tasks.add', {}),
    'default_queue_renamed': ({'task_default_queue': 'main'}, 'tasks.add', {}),
    'default_exchange_topic': ({'task_default_exchange': 'tasks', 'task_default_exchange_type': 'topic', 'task_default_routing_key': 'task.default'}, 'tasks.add', {}),
    'exchange_and_rk': ({}, 'tasks.add', {'exchange': 'custom', 'routing_key': 'ck'}),
    'exchange_only': ({}, 'tasks.add', {'exchange': 'custom'}),
    'rk_only': ({}, 'tasks.add', {'routing_key': 'ignored'}),
    'delivery_mode_default_transient': ({'task_default_delivery_mode': 'transient'}, 'tasks.add', {}),
    'delivery_mode_option': ({}, 'tasks.add', {'delivery_mode': 1}),
    'max_priority': ({'task_queue_max_priority': 10}, 'tasks.add', {'queue': 'prio'}),
    'dict_queues_setting': ({'task_queues': {'dq': {'exchange': 'dex', 'exchange_type': 'topic', 'routing_key': 'd.#'}}}, 'tasks.add', {'queue': 'dq'}),
    'route_with_exchange_rk': ({'task_routes': {'tasks.add': {'exchange': 'rex', 'exchange_type': 'topic', 'routing_key': 'r.k'}}}, 'tasks.add', {}),
}

out = {}
for key, (conf, name, options) in CASES.items():
    app = Celery('truth', broker='memory://', set_as_current=False)
    app.conf.update(conf)
    captured.clear()
    try:
        app.send_task(name, (), {}, **options)
        out[key] = dict(captured)
    except Exception as exc:  # noqa
        out[key] = {'error': type(exc).__name__, 'message': str(exc)}
for key, conf in {'missing_not_created': {'task_queues': [Queue('plain')], 'task_create_missing_queues': False}}.items():
    app = Celery('truth', broker='memory://', set_as_current=False)
    app.conf.update(conf)
    try:
        app.send_task('tasks.add', (), {}, queue='nope')
        out[key] = dict(captured)
    except Exception as exc:  # noqa
        out[key] = {'error': type(exc).__name__, 'message': str(exc)}
print(json.dumps(out, indent=1, sort_keys=True))
