"""Celery app of the worker_deduplicate_successful_tasks interop test (test/interop/worker-dedup.test.ts).

Env: DEDUP_BROKER, DEDUP_BACKEND (Redis URLs). acks_late + worker_deduplicate_successful_tasks, as Celery
needs for its check. `dedup.count(key)` counts its runs in Redis (INCR key on the backend's db).
"""
import os

import redis
from celery import Celery

app = Celery("dedup_tasks", broker=os.environ["DEDUP_BROKER"], backend=os.environ["DEDUP_BACKEND"])
app.conf.update(worker_deduplicate_successful_tasks=True, task_acks_late=True, broker_connection_retry_on_startup=True)


@app.task(name="dedup.count")
def count(key):
    r = redis.Redis.from_url(os.environ["DEDUP_BACKEND"])
    n = r.incr(key)
    r.expire(key, 3600)  # test counters do not outlive the run's results
    return n
