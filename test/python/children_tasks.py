"""Python side of the children (trail) interop test (test/interop/canvas-children.test.ts).

As a worker module: `celery -A children_tasks worker -Q $CELERIAC_PY_QUEUE`. `chpy.*` tasks run here;
each scenario task sends work while it runs, and Celery records what it sent in `request.children`
(`add_trail`), stored with its result. The TypeScript worker has the same tasks as `chts.*`.
As a script: reads {"code": "..."} on stdin, runs it and prints the JSON of the variable `out`.
"""
from celery import chain, chord, group
from celery.result import AsyncResult

from fleet_env import fleet_app, run_script

app = fleet_app("children_tasks", "chpy", "chts")


@app.task(name="chpy.leaf")
def leaf(*args):
    return sum(args)


@app.task(name="chpy.tsum")
def tsum(values):
    return sum(values)


@app.task(name="chpy.scenario")
def scenario(kind, *args):
    """Sends what `kind` says while it runs; returns `kind`."""
    if kind == "none":
        pass
    elif kind == "one":
        leaf.delay(1)
    elif kind == "two":
        leaf.delay(1)
        leaf.apply_async((2,))
    elif kind == "send_task":
        app.send_task("chpy.leaf", (1,))
    elif kind == "not_added":
        leaf.apply_async((1,), add_to_parent=False)
        app.send_task("chpy.leaf", (2,), add_to_parent=False)
        group(leaf.s(3), leaf.s(4)).apply_async(add_to_parent=False)
    elif kind == "group":
        group(leaf.s(1), leaf.s(2)).apply_async()
    elif kind == "chain":
        chain(leaf.s(1), leaf.s(2), leaf.s(3)).apply_async()
    elif kind == "chain_in_group":
        group(chain(leaf.s(1), leaf.s(2)), leaf.s(3)).apply_async()
    elif kind == "chord":
        chord([leaf.s(1), leaf.s(2)], tsum.s()).apply_async()
    elif kind == "fail":
        leaf.delay(1)
        raise ValueError("failed after sending")
    else:
        raise ValueError(f"unknown scenario {kind}")
    return kind


@app.task(name="chpy.retry_once", bind=True)
def retry_once(self):
    """Sends a task, then retries once: the RETRY record lists what it sent and the retry itself."""
    if self.request.retries == 0:
        leaf.delay(1)
        raise self.retry(countdown=3)
    return "retried"


if __name__ == "__main__":
    run_script(app, {"AsyncResult": AsyncResult})
