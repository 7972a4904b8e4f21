"""Python Celery producer rate: a plain `app.send_task` loop (what a Celery user writes).

Input (argv[1], JSON): {"url", "queue", "n", "warmup", "results": bool, "confirm": bool?}
Output (stdout, JSON): {"elapsed": seconds for the n timed sends}
`results=false` sends with ignore_result=True (no result subscription); `results=true` configures the
Redis result backend and sends normally, so each send subscribes to its result channel
(RedisBackend.on_task_call), as in an application that will read the results.
`confirm=true` (RabbitMQ) sets broker_transport_options={"confirm_publish": True}: each send waits for
RabbitMQ's publisher confirm, as celeriac's AMQP transport always does.
"""
import json
import sys
import time

from celery import Celery

cfg = json.loads(sys.argv[1])
url, queue, n, warmup, results = cfg["url"], cfg["queue"], cfg["n"], cfg["warmup"], cfg["results"]
app = Celery("bench_producer", broker=url, backend=url if results else None)
app.conf.update(broker_connection_retry_on_startup=True)
if cfg.get("confirm"):
    app.conf.broker_transport_options = {"confirm_publish": True}

name = "bench.noop" if results else "bench.noop_nr"
opts = {} if results else {"ignore_result": True}
for _ in range(warmup):
    app.send_task(name, (), queue=queue + ".warmup", **opts)

t0 = time.perf_counter()
for _ in range(n):
    app.send_task(name, (), queue=queue, **opts)
elapsed = time.perf_counter() - t0
print(json.dumps({"elapsed": elapsed}))
sys.stdout.flush()
