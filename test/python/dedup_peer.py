"""Python side of test/interop/worker-dedup.test.ts: Celery 5.6 sends tasks, reads results and counters.

stdin: {"broker": url, "backend": url, "ops": [...]}; one JSON line per op on stdout.
Ops:
  {"op": "send", "name", "args", "options"}                   -> task id (send_task; options may hold task_id, headers)
  {"op": "send_redelivered", "name", "args", "queue", "park", "options"}
        -> task id: sent with send_task to the queue `park` (no consumer), popped and pushed to `queue` with
           kombu's restore flags (`headers.redelivered`, `properties.delivery_info.redelivered`), as the
           Redis transport gives back an unacked message
  {"op": "get", "id", "timeout"}                              -> {"state", "result"}
  {"op": "counter", "key"}                                    -> int value of a Redis key on the backend db (0 if none)
  {"op": "queue_len", "queue"}                                -> LLEN of a queue on the broker db
"""
import json
import sys
import traceback

import redis
from celery import Celery


def main():
    doc = json.load(sys.stdin)
    app = Celery("dedup_peer", broker=doc["broker"], backend=doc["backend"])
    broker = redis.Redis.from_url(doc["broker"])
    backend = redis.Redis.from_url(doc["backend"])
    for op in doc["ops"]:
        kind = op["op"]
        try:
            if kind == "send":
                res = app.send_task(op["name"], args=op.get("args") or [], **(op.get("options") or {})).id
            elif kind == "send_redelivered":
                r = app.send_task(op["name"], args=op.get("args") or [], queue=op["park"], **(op.get("options") or {}))
                raw = json.loads(broker.rpop(op["park"]))
                raw["headers"]["redelivered"] = True
                raw["properties"]["delivery_info"]["redelivered"] = True
                broker.lpush(op["queue"], json.dumps(raw))
                res = r.id
            elif kind == "get":
                r = app.AsyncResult(op["id"])
                try:
                    r.get(timeout=op.get("timeout", 10), propagate=False, interval=0.05)
                except Exception as exc:  # timeout
                    res = {"state": r.state, "error": repr(exc)}
                else:
                    res = {"state": r.state, "result": r.result if r.state == "SUCCESS" else repr(r.result)}
            elif kind == "counter":
                res = int(backend.get(op["key"]) or 0)
            elif kind == "queue_len":
                res = broker.llen(op["queue"])
            else:
                raise ValueError(f"unknown op {kind}")
            print(json.dumps({"op": kind, "result": res}), flush=True)
        except Exception as exc:
            print(json.dumps({"op": kind, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
