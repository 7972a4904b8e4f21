"""Python side of the message-signing interop test: a Celery app with app.setup_security().

Settings from CELERIAC_BROKER_URL, CELERIAC_BACKEND_URL and CELERIAC_EXTRA_CONF (JSON: security_key,
security_certificate, security_cert_store, control/event exchanges...).
"""
import json
import os

from celery import Celery

app = Celery("security_tasks", broker=os.environ["CELERIAC_BROKER_URL"], backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(
    worker_hijack_root_logger=False,
    task_serializer="auth",
    accept_content=["auth"],
    result_accept_content=["json"],
    **json.loads(os.environ.get("CELERIAC_EXTRA_CONF", "{}")),
)
app.setup_security()


@app.task(name="sec.add")
def add(x, y):
    return x + y
