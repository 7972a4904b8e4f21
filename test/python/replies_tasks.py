"""The Python worker of the worker-replies and Flower interop tests: the same task names and options as the
TypeScript worker's (test/interop/worker-replies.test.ts), so their replies can be compared field by field.
Broker/backend from REPLIES_BROKER / REPLIES_BACKEND, the shared settings (JSON) from REPLIES_CONF."""
import json
import os
import time

from celery import Celery

app = Celery("replies_tasks", broker=os.environ.get("REPLIES_BROKER"), backend=os.environ.get("REPLIES_BACKEND"))
app.conf.update(json.loads(os.environ.get("REPLIES_CONF") or "{}"))


@app.task(name="rp.add")
def add(x, y):
    return x + y


@app.task(name="rp.limited", rate_limit="2/s", time_limit=10, acks_late=True, max_retries=5)
def limited(x):
    return x


@app.task(name="rp.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="rp.fail")
def fail(msg):
    raise ValueError(msg)
