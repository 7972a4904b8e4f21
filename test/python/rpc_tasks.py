"""Tasks for test/interop/rpc-backend.test.ts: a real Celery worker with result_backend='rpc://'.

Broker from CELERIAC_BROKER_URL (RabbitMQ); backend rpc:// unless CELERIAC_BACKEND_URL says otherwise
(the Redis-backend-with-AMQP-broker test). With rpc:// every state (STARTED, RETRY, PROGRESS, SUCCESS, FAILURE)
travels as a message to the caller's reply_to queue.
"""
import os
import time

from celery import Celery

app = Celery(
    'rpc_tasks',
    broker=os.environ.get('CELERIAC_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    backend=os.environ.get('CELERIAC_BACKEND_URL', 'rpc://'),
)
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_track_started=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


class CustomError(Exception):
    """A user exception: it reaches TypeScript as excType CustomError, excModule rpc_tasks."""


@app.task(name='rpc_tasks.add')
def add(x, y):
    return x + y


@app.task(name='rpc_tasks.fail')
def fail(msg, code):
    raise CustomError(msg, code)


@app.task(name='rpc_tasks.progress', bind=True)
def progress(self, n, delay=0.1):
    for i in range(1, n + 1):
        self.update_state(state='PROGRESS', meta={'current': i, 'total': n})
        time.sleep(delay)
    return {'done': n}


@app.task(name='rpc_tasks.retry_once', bind=True, max_retries=3)
def retry_once(self, value):
    if self.request.retries == 0:
        raise self.retry(exc=CustomError('first attempt', value), countdown=0.2)
    return value * 2


@app.task(name='rpc_tasks.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds
