"""Python side of the argument-binding interop suite (test/interop/binding.test.ts, issue 12).

A worker module: `celery -A binding_tasks worker -Q $CELERIAC_PY_QUEUE -E`. Each `bpy.<name>` task has a
TypeScript twin `bts.<name>` (same parameter list, same return value) on the TypeScript worker; the
function names are the task names' last dotted parts, so Python's TypeError texts name them as the
TypeScript binder does. Every task returns what it was bound to, so results compare exactly.

The callers live in binding_peer.py (an app without these tasks: Celery's producer-side `typing` check
stays out of the way, as with send_task).
"""
from celery import signature

from fleet_env import fleet_app

app = fleet_app("binding_tasks", "bpy", "bts", result_extended=True)


@app.task(name="bpy.ident")
def ident(v):
    return v


@app.task(name="bpy.add")
def add(x, y):
    return {"x": x, "y": y}


@app.task(name="bpy.three")
def three(a, b, c):
    return {"a": a, "b": b, "c": c}


@app.task(name="bpy.with_default")
def with_default(x, y=10):
    return {"x": x, "y": y}


@app.task(name="bpy.rest")
def rest(x, *args):
    return {"x": x, "args": list(args)}


@app.task(name="bpy.kwonly")
def kwonly(x, *, flag, mode="a"):
    return {"x": x, "flag": flag, "mode": mode}


@app.task(name="bpy.catch_all")
def catch_all(x, **kwargs):
    return {"x": x, "kwargs": kwargs}


@app.task(name="bpy.full")
def full(a, b=2, *args, c, d=4, **kwargs):
    return {"a": a, "b": b, "args": list(args), "c": c, "d": d, "kwargs": kwargs}


@app.task(name="bpy.bound", bind=True)
def bound(self, x, y=1):
    return {"self": self.name.rsplit(".", 1)[1], "x": x, "y": y}


@app.task(name="bpy.fail")
def fail():
    raise ValueError("parent failed")


@app.task(name="bpy.errback")
def errback(task_id, *, tag):
    """An old-style errback (one positional: the failed task's id), sent as a task by the failing worker."""
    return {"task_id": task_id, "tag": tag}


@app.task(name="bpy.swap", bind=True)
def swap(self, x, **kw):
    """Replaced by bpy.add(x, **kw): the replacement binds (and fails) under this task's id."""
    raise self.replace(signature("bpy.add", args=(x,), kwargs=kw))
