"""Tasks for test/interop/redis-backend.test.ts (a real Celery worker runs them).

Broker and backend come from CELERIAC_BROKER_URL / CELERIAC_BACKEND_URL (Redis db 9 in the tests).
"""
import os
import time

from celery import Celery

app = Celery(
    'backend_tasks',
    broker=os.environ.get('CELERIAC_BROKER_URL', 'redis://127.0.0.1:6379/9'),
    backend=os.environ.get('CELERIAC_BACKEND_URL', 'redis://127.0.0.1:6379/9'),
)
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
_prefix = os.environ.get('CELERIAC_GLOBAL_KEYPREFIX')
if _prefix:
    app.conf.result_backend_transport_options = {'global_keyprefix': _prefix}


class CustomError(Exception):
    """A user exception: Python rebuilds it from exc_module/exc_type."""


@app.task(name='backend_tasks.add')
def add(x, y):
    return x + y


@app.task(name='backend_tasks.fail')
def fail(msg, code):
    raise CustomError(msg, code)


@app.task(name='backend_tasks.progress', bind=True)
def progress(self, n, delay=0.2):
    for i in range(1, n + 1):
        self.update_state(state='PROGRESS', meta={'current': i, 'total': n})
        time.sleep(delay)
    return {'done': n}


@app.task(name='backend_tasks.retry_once', bind=True, max_retries=3)
def retry_once(self, value):
    if self.request.retries == 0:
        raise self.retry(exc=CustomError('first attempt', value), countdown=0.3)
    return value * 2


@app.task(name='backend_tasks.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds
