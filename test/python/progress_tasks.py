"""Tasks for test/interop/cli-progress.test.ts: `celeriac call --wait` shows a Python task's states as they change.

Broker and backend from CELERIAC_BROKER_URL / CELERIAC_BACKEND_URL (Redis db 6 by default).
`task_track_started=True`, so the worker stores STARTED with `{"pid", "hostname"}` before running a task.
"""
import os
import time

from celery import Celery

URL = os.environ.get('CELERIAC_BROKER_URL', 'redis://127.0.0.1:6379/6')
BACKEND = os.environ.get('CELERIAC_BACKEND_URL', URL)
app = Celery('progress_tasks', broker=URL, backend=BACKEND)
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_track_started=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)


@app.task(name='progress_tasks.count', bind=True)
def count(self, n, delay):
    """Celery's usual progress idiom: a PROGRESS state with {current, total} per step, then the result."""
    for i in range(1, n + 1):
        time.sleep(delay)
        self.update_state(state='PROGRESS', meta={'current': i, 'total': n})
    time.sleep(delay)
    return {'counted': n}


@app.task(name='progress_tasks.gated', bind=True)
def gated(self, n, gate, delay=0.7):
    """PROGRESS 1/n, then waits (60 s at most) for the Redis key `gate` before the other steps: the test
    starts `celeriac result --wait` while the task is held in PROGRESS, then lets it go on."""
    import redis
    client = redis.Redis.from_url(BACKEND)
    self.update_state(state='PROGRESS', meta={'current': 1, 'total': n})
    deadline = time.time() + 60
    while not client.exists(gate) and time.time() < deadline:
        time.sleep(0.05)
    client.delete(gate)
    for i in range(2, n + 1):
        time.sleep(delay)
        self.update_state(state='PROGRESS', meta={'current': i, 'total': n})
    return {'counted': n}


@app.task(name='progress_tasks.retry_once', bind=True, max_retries=3)
def retry_once(self, value, countdown=1):
    """Retries once (RETRY stored with the countdown in its traceback: `Retry in 1s`), then succeeds."""
    if self.request.retries == 0:
        raise self.retry(countdown=countdown)
    return value * 2


class FlakyError(Exception):
    pass


@app.task(name='progress_tasks.retry_with_exc', bind=True, max_retries=3)
def retry_with_exc(self, value, countdown=1):
    """Retries once with the error that caused it (RETRY's result is that exception), then succeeds."""
    if self.request.retries == 0:
        raise self.retry(exc=FlakyError('first attempt', value), countdown=countdown)
    return value * 2
