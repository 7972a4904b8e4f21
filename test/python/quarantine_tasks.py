"""Python side of the quarantine interop test: a worker that knows the task the TypeScript worker does not."""
import os

from celery import Celery

app = Celery("quarantine_tasks", broker=os.environ["CELERIAC_BROKER_URL"], backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(worker_hijack_root_logger=False, task_queue_max_priority=int(os.environ.get("CELERIAC_MAXPRI", "0")) or None)


@app.task(name="py.only")
def py_only(x, y):
    return x * y
