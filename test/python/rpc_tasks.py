"""Tasks for test/interop/rpc-backend.test.ts: a real Celery worker with result_backend='rpc://'.

Broker from CELERIAC_BROKER_URL (RabbitMQ); backend rpc:// unless CELERIAC_BACKEND_URL says otherwise
(the Redis-backend-with-AMQP-broker test). With rpc:// every state (STARTED, RETRY, PROGRESS, SUCCESS, FAILURE)
travels as a message to the caller's reply_to queue.
"""
import os
import sys

from celery import Celery

sys.path.insert(0, os.path.dirname(__file__))
from common_tasks import register  # noqa: E402

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


add, fail, progress, retry_once, sleep = register(app, 'rpc_tasks', CustomError, progress_delay=0.1, retry_countdown=0.2)
