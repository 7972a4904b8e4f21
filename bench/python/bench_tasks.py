"""Celery app of the benchmark's Python worker: the same no-op tasks the celeriac worker serves.

    BENCH_URL=redis://127.0.0.1:6379/15 BENCH_QUEUE=q python -m celery -A bench_tasks worker -Q q ...

BENCH_BROKER / BENCH_BACKEND override BENCH_URL for the broker / the result backend (RabbitMQ section:
broker amqp://..., backend redis://... or rpc://).
"""
import os

from celery import Celery

URL = os.environ.get("BENCH_URL", "redis://127.0.0.1:6379/15")
app = Celery("bench_tasks", broker=os.environ.get("BENCH_BROKER", URL), backend=os.environ.get("BENCH_BACKEND", URL))
app.conf.update(
    task_default_queue=os.environ.get("BENCH_QUEUE", "celery"),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)


@app.task(name="bench.noop")
def noop():
    return None


@app.task(name="bench.noop_nr", ignore_result=True)
def noop_nr():
    return None
