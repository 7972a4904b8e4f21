"""The Python side of the mixed-fleet demo: an ordinary Celery app.

`npm run demo` starts its worker itself (-Q demo.py, Redis db 5). To run one yourself:
    celery -A tasks worker -l info            (docker-compose.yml's worker does, on Redis db 0)
"""
import os

from celery import Celery

app = Celery(
    "demo",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/0"),
)
app.conf.update(accept_content=["json", "msgpack", "yaml"], result_accept_content=["json", "msgpack", "yaml"])


@app.task(name="demo.add")
def add(x, y):
    return x + y


@app.task(name="demo.describe")
def describe(*args, **kwargs):
    """Returns what Python received, with Python type names, to show the value mapping."""
    return {
        "args": [[type(a).__name__, repr(a)] for a in args],
        "kwargs": {k: [type(v).__name__, repr(v)] for k, v in kwargs.items()},
    }


class DemoError(Exception):
    pass


@app.task(name="demo.fail")
def fail(message):
    raise DemoError(message, 42)
