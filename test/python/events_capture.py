"""Captures events with Celery's own EventReceiver into celery.events.state.State, like `celery events`
and Flower do, until "stop" arrives on stdin; then prints what the State holds (JSON).

stdin line 1: {"broker": url, "conf": {...}}; prints "ready" once consuming; later "stop".
stdout (last line): {"workers": {hostname: {...}}, "tasks": {uuid: {...}}, "events": {hostname: {type: {field: type}}},
                     "alive_seen": {hostname: bool}, "heartbeats_max": {hostname: int}, "order": {hostname: [types...]}}
"""
import datetime
import json
import sys
import threading

from celery import Celery
from celery.events.receiver import EventReceiver

cfg = json.loads(sys.stdin.readline())
app = Celery("events_capture", broker=cfg["broker"])
app.conf.update(**cfg.get("conf", {}))
state = app.events.State()
events = {}
order = {}
alive_seen = {}
heartbeats_max = {}


def typename(v):
    return type(v).__name__


def on_event(e):
    host = e.get("hostname")
    fields = events.setdefault(host, {}).setdefault(e["type"], {})
    for k, v in e.items():
        fields.setdefault(k, typename(v))
    order.setdefault(host, []).append(e["type"])
    state.event(e)
    if e["type"].startswith("worker-") and host in state.workers:
        alive_seen[host] = alive_seen.get(host, False) or state.workers[host].alive
        heartbeats_max[host] = max(heartbeats_max.get(host, 0), len(state.workers[host].heartbeats))


class Receiver(EventReceiver):
    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        print("ready", flush=True)


def safe(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [safe(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


with app.connection() as conn:
    recv = Receiver(conn, handlers={"*": on_event}, app=app)

    def wait_stop():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        recv.should_stop = True

    threading.Thread(target=wait_stop, daemon=True).start()
    recv.capture(limit=None, timeout=None, wakeup=True)

workers = {}
for host, w in state.workers.items():
    d = {k: safe(getattr(w, k, None)) for k in w._fields}
    d["types"] = {k: typename(getattr(w, k, None)) for k in w._fields}
    d["alive"] = w.alive
    d["status_string"] = w.status_string
    d["heartbeat_count"] = len(w.heartbeats)
    workers[host] = d
tasks = {}
for uuid, t in state.tasks.items():
    d = {}
    for k in t._fields:
        v = getattr(t, k, None)
        if k == "worker":
            v = v.hostname if v is not None else None
        elif k in ("root", "parent"):
            v = v.uuid if v is not None else None
        elif k == "children":
            v = sorted(c.uuid for c in v) if v else []
        d[k] = safe(v)
    d["types"] = {k: typename(getattr(t, k, None)) for k in t._fields if k not in ("worker", "root", "parent", "children")}
    tasks[uuid] = d
print(json.dumps({"workers": workers, "tasks": tasks, "events": events, "order": order, "alive_seen": alive_seen, "heartbeats_max": heartbeats_max}), flush=True)
