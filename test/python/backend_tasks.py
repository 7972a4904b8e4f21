"""Tasks for test/interop/redis-backend.test.ts (a real Celery worker runs them).

Broker and backend come from CELERIAC_BROKER_URL / CELERIAC_BACKEND_URL (Redis db 9 in the tests).
"""
import os
import sys

from celery import Celery

sys.path.insert(0, os.path.dirname(__file__))
from common_tasks import register  # noqa: E402

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


add, fail, progress, retry_once, sleep = register(app, 'backend_tasks', CustomError, progress_delay=0.2, retry_countdown=0.3)
