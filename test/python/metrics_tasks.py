"""Python side of the metrics interop test (test/interop/metrics-exporter.test.ts): the tasks both
workers run (same names, same outcomes), on the test's own event and control exchanges."""
import json
import os
import time

from celery import Celery
from celery.exceptions import Reject

URL = os.environ["CELERIAC_BROKER_URL"]
app = Celery("metrics_tasks", broker=URL, backend=os.environ.get("CELERIAC_BACKEND_URL") or None)
app.conf.update(
    worker_hijack_root_logger=False,
    event_exchange=os.environ["CELERIAC_EVENT_EXCHANGE"],
    control_exchange=os.environ["CELERIAC_CONTROL_EXCHANGE"],
    **json.loads(os.environ.get("CELERIAC_EXTRA_CONF", "{}")),
)


class BoomError(Exception):
    pass


@app.task(name="mx.add")
def add(x, y):
    return x + y


@app.task(name="mx.fail")
def fail(msg):
    raise BoomError(msg)


@app.task(name="mx.retry_once", bind=True)
def retry_once(self, x):
    if self.request.retries < 1:
        raise self.retry(countdown=0.1, exc=ValueError("again"))
    return x


@app.task(name="mx.reject", acks_late=True)
def reject():
    raise Reject("no", requeue=False)


@app.task(name="mx.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds
