"""Tasks for test/interop/producer.test.ts: a real Celery worker runs tasks that TypeScript sent.

Broker and backend come from CELERIAC_BROKER_URL / CELERIAC_BACKEND_URL (Redis db 11 or RabbitMQ,
and Redis db 11 for results). CELERIAC_PRIORITY_QUEUE names a queue declared with x-max-priority 10
(with its own direct exchange), as the TypeScript side declares it.
`echo` returns what the worker saw of the request, so the test can check every send option arrived.
"""
import os
import time

from celery import Celery
from kombu import Exchange, Queue

URL = os.environ.get('CELERIAC_BROKER_URL', 'redis://127.0.0.1:6379/11')
BACKEND = os.environ.get('CELERIAC_BACKEND_URL', URL)
app = Celery('producer_tasks', broker=URL, backend=BACKEND)
_prio = os.environ.get('CELERIAC_PRIORITY_QUEUE')
if _prio:
    app.conf.task_queues = [Queue(_prio, Exchange(_prio), routing_key=_prio, queue_arguments={'x-max-priority': 10})]
app.conf.update(
    accept_content=['json', 'msgpack', 'yaml'],
    result_accept_content=['json'],
    result_serializer='json',
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)


class ProducerTestError(Exception):
    pass


@app.task(name='producer_tasks.add')
def add(x, y):
    return x + y


def _iso(value):
    return value.isoformat() if hasattr(value, 'isoformat') else value


@app.task(name='producer_tasks.echo', bind=True)
def echo(self, *args, **kwargs):
    r = self.request
    return {
        'id': r.id,
        'task': self.name,
        'args': list(args),
        'kwargs': kwargs,
        'eta': _iso(r.eta),
        'expires': _iso(r.expires),
        'retries': r.retries,
        'timelimit': list(r.timelimit) if r.timelimit else None,
        'headers': r.headers,
        'x_tenant': getattr(r, 'x-tenant', None),
        'shadow': r.shadow,
        'priority': (r.delivery_info or {}).get('priority'),
        'routing_key': (r.delivery_info or {}).get('routing_key'),
        'exchange': (r.delivery_info or {}).get('exchange'),
        'reply_to': r.reply_to,
        'origin': r.origin,
        'root_id': r.root_id,
        'parent_id': r.parent_id,
        'correlation_id': r.correlation_id,
        'ignore_result': r.ignore_result,
        'stamped_headers': r.stamped_headers,
        'stamps': r.stamps,
        'group': r.group,
        'received_at': time.time(),
    }


@app.task(name='producer_tasks.fail')
def fail(message):
    raise ProducerTestError(message)


@app.task(name='producer_tasks.record', bind=True)
def record(self, value, key):
    """A link/link_error target: stores what it got under a Redis key the test reads."""
    import json
    import redis
    client = redis.Redis.from_url(BACKEND)
    client.set(key, json.dumps({'value': repr(value), 'parent_id': self.request.parent_id}), ex=300)
    return value


@app.task(name='producer_tasks.on_error')
def on_error(request, exc, traceback, key):
    """An errback with Celery 5's signature (request, exc, traceback): the worker calls it inline."""
    import json
    import redis
    client = redis.Redis.from_url(BACKEND)
    client.set(key, json.dumps({'failed_id': request.id, 'exc': f'{type(exc).__name__}: {exc}'}), ex=300)
