"""Python side of the events interop test: the tasks both workers run (same names, same outcomes)."""
import json
import os

from celery import Celery

URL = os.environ["CELERIAC_BROKER_URL"]
app = Celery("events_tasks", broker=URL, backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(worker_hijack_root_logger=False, **json.loads(os.environ.get("CELERIAC_EXTRA_CONF", "{}")))


@app.task(name="ev.add")
def add(x, y):
    return x + y


@app.task(name="ev.fail")
def fail(msg):
    raise ValueError(msg)


@app.task(name="ev.retry_once", bind=True)
def retry_once(self, x):
    if self.request.retries < 1:
        raise self.retry(countdown=0.2, exc=ValueError("again"))
    return x


@app.task(name="ev.reject")
def reject(x):
    from celery.exceptions import Reject
    raise Reject("no", requeue=False)


@app.task(name="ev.reject_late", acks_late=True)
def reject_late(x):
    from celery.exceptions import Reject
    raise Reject("no", requeue=False)
