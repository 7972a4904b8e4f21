"""The Python side of the operator-command tests (test/interop/cli-{purge,list,migrate,report}.test.ts).

As an app module (`celery -A ops_peer purge|list bindings|migrate|report|worker`), settings from the
environment, the same the test gives celeriac's app module:
  OPS_BROKER, OPS_BACKEND (optional), OPS_QA (a direct queue), OPS_QB + OPS_X (a queue bound to the
  topic exchange OPS_X with routing key 'b.#'), OPS_MAXPRI (task_queue_max_priority, RabbitMQ), OPS_TRANSPORT (broker_transport_options, JSON),
  OPS_REPORT=1 (the extra settings the report test compares, secrets included).
Tasks: ops.add(x, y), ops.mul(x, y), ops.other(x).

As a script, `python ops_peer.py publish` reads [{task, args, kwargs, queue, priority, headers}] as JSON
on stdin, sends each with apply_async through the app above and prints their ids as a JSON list.
"""
import json
import os
import sys

from celery import Celery
from kombu import Exchange, Queue

BROKER = os.environ.get('OPS_BROKER', 'redis://127.0.0.1:6379/0')
app = Celery('ops_peer', broker=BROKER, backend=os.environ.get('OPS_BACKEND') or None)
QA = os.environ.get('OPS_QA', 'ops.qa')
QB = os.environ.get('OPS_QB', 'ops.qb')
X = os.environ.get('OPS_X', 'ops.x')
app.conf.update(
    task_default_queue=QA,
    task_queues=[Queue(QA), Queue(QB, Exchange(X, type='topic'), routing_key='b.#')],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
if os.environ.get('OPS_MAXPRI'):
    app.conf.task_queue_max_priority = int(os.environ['OPS_MAXPRI'])
if os.environ.get('OPS_TRANSPORT'):
    app.conf.broker_transport_options = json.loads(os.environ['OPS_TRANSPORT'])
if os.environ.get('OPS_REPORT'):
    app.conf.update(
        broker_transport_options={'visibility_timeout': 30, 'password': 'hunter2'},
        result_expires=3600,
        task_publish_retry_policy={'max_retries': 5, 'interval_start': 0, 'interval_step': 0.5, 'interval_max': 2},
        accept_content=['json', 'msgpack'],
        task_routes={'ops.*': {'queue': QA}, 'other.task': 'elsewhere'},
        redbeat_key_prefix='rb:',
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        timezone='Europe/Paris',
        beat_schedule={'tick': {'task': 'ops.add', 'schedule': 30, 'args': [1, 2]}},
    )


@app.task(name='ops.add')
def add(x, y):
    return x + y


@app.task(name='ops.mul')
def mul(x, y):
    return x * y


@app.task(name='ops.other')
def other(x):
    return x


def publish(items):
    ids = []
    with app.producer_or_acquire() as producer:
        for item in items:
            options = {k: item[k] for k in ('queue', 'priority', 'headers', 'routing_key', 'exchange') if k in item}
            r = app.send_task(item['task'], args=item.get('args', []), kwargs=item.get('kwargs', {}), producer=producer, **options)
            ids.append(r.id)
    return ids


if __name__ == '__main__' and sys.argv[1:] == ['publish']:
    print(json.dumps(publish(json.load(sys.stdin))))
