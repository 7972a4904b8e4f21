"""The Python side of the worker-control interop tests: a Celery app for the Python worker and for the
`celery -A control_tasks inspect/control` CLI. Broker/backend come from CONTROL_BROKER / CONTROL_BACKEND,
extra settings (JSON) from CONTROL_CONF."""
import json
import os
import time

from celery import Celery

app = Celery("control_tasks", broker=os.environ.get("CONTROL_BROKER"), backend=os.environ.get("CONTROL_BACKEND"))
app.conf.update(json.loads(os.environ.get("CONTROL_CONF") or "{}"))


@app.task(name="tsc.py_add")
def py_add(x, y):
    return x + y


@app.task(name="tsc.py_sleep")
def py_sleep(seconds):
    time.sleep(seconds)
    return seconds
