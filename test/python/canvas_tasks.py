"""Python side of the canvas interop tests (test/interop/canvas.test.ts).

As a worker module: `celery -A canvas_tasks worker -Q $CELERIAC_PY_QUEUE`; `cpy.*` tasks are routed to
the Python queue, `cts.*` (implemented in TypeScript) to the TypeScript one.
As a script: reads {"code": "..."} on stdin, runs it (with the app, canvas classes and the tasks in
scope) and prints the JSON of the variable `out`.
"""
import json
import os
import sys

import redis
from celery import Celery, chain, chord, group, signature

URL = os.environ["CELERIAC_BROKER_URL"]
BACKEND = os.environ.get("CELERIAC_BACKEND_URL") or URL
PYQ = os.environ["CELERIAC_PY_QUEUE"]
TSQ = os.environ["CELERIAC_TS_QUEUE"]
DEFQ = os.environ["CELERIAC_DEFAULT_QUEUE"]
app = Celery("canvas_tasks", broker=URL, backend=BACKEND)
app.conf.update(
    task_default_queue=DEFQ,
    task_routes={"cpy.*": {"queue": PYQ}, "cts.*": {"queue": TSQ}},
    worker_hijack_root_logger=False,
    result_extended=True,
)
# the broker's settings of the test matrix (task_queue_max_priority on RabbitMQ), as the TypeScript side has them
app.conf.update(json.loads(os.environ.get("CELERIAC_CONF") or "{}"))
_redis = redis.Redis.from_url(os.environ.get("CELERIAC_NOTES_URL") or BACKEND)


def note(key, value):
    _redis.rpush(f"canvas:{PYQ}:{key}", json.dumps(value))


@app.task(name="cpy.add")
def add(x, y=0):
    return x + y


@app.task(name="cpy.mul")
def mul(x, y):
    return x * y


@app.task(name="cpy.tsum")
def tsum(values):
    return sum(values)


@app.task(name="cpy.identity")
def identity(x):
    return x


@app.task(name="cpy.fail")
def fail(*args):
    raise ValueError("py boom")


@app.task(name="cpy.record", bind=True)
def record(self, *args):
    r = self.request
    out = {"lang": "py", "args": list(args), "id": r.id, "root_id": r.root_id, "parent_id": r.parent_id,
           "group": r.group, "group_index": r.group_index}
    note("record", out)
    return out


@app.task(name="cpy.errback")
def errback(task_id):
    note("errback", task_id)
    return task_id


@app.task(name="cpy.on_error")
def on_error(request, exc, traceback):
    note("on_error", {"id": request.id, "exc": repr(exc)})


@app.task(name="cpy.replace_with_chain", bind=True)
def replace_with_chain(self, x):
    return self.replace(chain(signature("cts.add", (x, 1)), signature("cpy.mul", (10,))))


@app.task(name="cpy.replace_with_group", bind=True)
def replace_with_group(self, x):
    return self.replace(group(signature("cts.add", (x, 1)), signature("cpy.add", (x, 2))))


def result_json(r):
    """A result as {id, parent, children...} for the TypeScript side."""
    return r.as_tuple()


if __name__ == "__main__":
    doc = json.load(sys.stdin)
    scope = {"app": app, "chain": chain, "group": group, "chord": chord, "signature": signature,
             "add": add, "mul": mul, "tsum": tsum, "fail": fail, "record": record, "errback": errback,
             "identity": identity, "on_error": on_error, "ts": lambda name, *a, **kw: signature(name, a, kw),
             "out": None, "result_json": result_json}
    exec(doc["code"], scope)
    print(json.dumps(scope["out"], default=repr))
