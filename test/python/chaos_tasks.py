"""Python twin of test/chaos/chaos-app.ts: the chaos suite's baseline worker (Celery 5.6).

chaos.run(i, ms) (early ack) and chaos.run_late(i, ms) (acks_late): sleep ms, then HINCRBY <CHAOS_KEY> i 1
on the counter Redis, written once the body has finished. chaos.args(a, b) takes exactly two arguments.
Environment as the TypeScript app: CHAOS_BROKER, CHAOS_COUNTER, CHAOS_KEY, CHAOS_QUEUE, CHAOS_VISIBILITY,
CHAOS_HEARTBEAT.
"""
import os
import time

import redis
from celery import Celery, signals

env = os.environ
app = Celery("chaos_tasks", broker=env["CHAOS_BROKER"])
app.conf.update(
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    task_default_queue=env.get("CHAOS_QUEUE", "chaos"),
    task_ignore_result=True,
    broker_transport_options={"visibility_timeout": float(env.get("CHAOS_VISIBILITY", "3600"))},
)
if env.get("CHAOS_HEARTBEAT"):
    app.conf.broker_heartbeat = float(env["CHAOS_HEARTBEAT"])
_counter = redis.Redis.from_url(env.get("CHAOS_COUNTER", "redis://127.0.0.1:6379/0"))
_key = env.get("CHAOS_KEY", "chaos:runs")


def _record(i, ms):
    if ms > 0:
        time.sleep(ms / 1000)
    _counter.hincrby(_key, str(i), 1)
    return i


@app.task(name="chaos.run")
def run(i, ms):
    return _record(i, ms)


@app.task(name="chaos.run_late", acks_late=True)
def run_late(i, ms):
    return _record(i, ms)


@app.task(name="chaos.args")
def args(a, b):
    return _record(a, b)


@signals.worker_ready.connect
def _ready(sender=None, **kwargs):
    print("CHAOS-READY", flush=True)
