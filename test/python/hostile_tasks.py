"""Python side of test/interop/hostile-live.test.ts: the tasks a real Celery worker runs when it is handed
the malformed messages of issue 15 item 5 (a hybrid `{"args": []}` body, an AMQP-timestamp eta, a task
name sent as bytes). Each task records its arguments in its result, so the test sees what ran."""
import os

from celery import Celery

app = Celery("hostile_tasks", broker=os.environ["CELERIAC_BROKER_URL"], backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(worker_hijack_root_logger=False)


@app.task(name="hostile.add")
def add(x, y):
    return x + y


@app.task(name="hostile.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}
