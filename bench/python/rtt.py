"""Python Celery round trip: sequential send_task + get() of a no-op task.

Input (argv[1], JSON): {"url", "queue", "n", "warmup", "backend"?} (backend defaults to url)
Output (stdout, JSON): {"ms": [latency of each timed iteration in milliseconds]}
"""
import json
import sys
import time

from celery import Celery

cfg = json.loads(sys.argv[1])
url, queue, n, warmup = cfg["url"], cfg["queue"], cfg["n"], cfg["warmup"]
app = Celery("bench_rtt", broker=url, backend=cfg.get("backend") or url)
app.conf.update(broker_connection_retry_on_startup=True)

# the first call waits for the worker to come up
app.send_task("bench.noop", (), queue=queue).get(timeout=60)
for _ in range(warmup):
    app.send_task("bench.noop", (), queue=queue).get(timeout=10)

ms = []
for _ in range(n):
    t0 = time.perf_counter()
    app.send_task("bench.noop", (), queue=queue).get(timeout=10)
    ms.append((time.perf_counter() - t0) * 1000.0)
print(json.dumps({"ms": ms}))
sys.stdout.flush()
