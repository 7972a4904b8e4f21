"""Python side of the canvas interop tests (test/interop/canvas.test.ts).

As a worker module: `celery -A canvas_tasks worker -Q $CELERIAC_PY_QUEUE`; `cpy.*` tasks are routed to
the Python queue, `cts.*` (implemented in TypeScript) to the TypeScript one.
As a script: reads {"code": "..."} on stdin, runs it (with the app, canvas classes and the tasks in
scope) and prints the JSON of the variable `out`.
"""
import json
import os

import redis
from celery import chain, group, signature

from fleet_env import BACKEND, PYQ, fleet_app, run_script

app = fleet_app("canvas_tasks", "cpy", "cts", result_extended=True)
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
    run_script(app, {"add": add, "mul": mul, "tsum": tsum, "fail": fail, "record": record, "errback": errback,
                     "identity": identity, "on_error": on_error, "ts": lambda name, *a, **kw: signature(name, a, kw),
                     "result_json": result_json}, default=repr)
