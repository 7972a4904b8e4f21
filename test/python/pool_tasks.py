"""Python twin of test/interop/worker-pool-app.ts: the same CPU-bound tasks under a Python prefork worker,
so the pool tests compare what celeriac's threads pool stores with what Python's prefork pool stores.
Settings from the environment: POOL_TEST_BROKER, POOL_TEST_BACKEND."""
import os
import time

from celery import Celery

app = Celery("pool_tasks", broker=os.environ.get("POOL_TEST_BROKER"), backend=os.environ.get("POOL_TEST_BACKEND"))


def spin(ms):
    end = time.time() + ms / 1000.0
    x = 0
    while time.time() < end:
        for i in range(1000):
            x = (x * 31 + i) % 1000003
    return x


@app.task(name="pool.forever")
def forever():
    # what Python stores at a hard time limit does not depend on what the task does: sleeping keeps the
    # CPUs free for the other tests
    while True:
        time.sleep(1)


@app.task(name="pool.spin")
def spin_task(ms):
    start = time.time()
    spin(ms)
    return {"thread": os.getpid(), "start": int(start * 1000), "end": int(time.time() * 1000)}


@app.task(name="pool.add")
def add(a, b):
    return a + b
