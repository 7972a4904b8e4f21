"""Real Celery's client side for the worker-replies and Flower interop tests (test/interop/worker-replies*.test.ts,
flower*.test.ts): remote control calls answered by a TypeScript and a Python worker, and events logged as they arrive.

Modes:
  python replies_peer.py          stdin: {"broker", "backend", "conf", "ops"}; one JSON line per op on stdout.
  python replies_peer.py events   stdin line 1: {"broker", "conf"}; prints "ready" once consuming, then one JSON line
                                  per event (every field, as EventReceiver gives it) until "stop" on stdin.
Ops:
  {"op": "inspect", "method", "posargs", "args", "destination", "timeout", "types"} -> inspect(...).<method>(*posargs, **args)
                                                                  (with "types": each value's Python type name instead)
  {"op": "broadcast", "method", "arguments", "float_args", "destination", "reply", "timeout"} -> app.control.broadcast(...)
                                                                  (the arguments named in float_args sent as floats)
  {"op": "control", "method", "posargs", "args"}                  -> app.control.<method>(*posargs, **args)
  {"op": "bump_clock", "value", "destination"}                    -> the workers' `inspect clock` once past `value`
                                                                     (an event with that clock, which their gossip takes)
  {"op": "send", "name", "args", "kwargs", "options"}             -> task id
  {"op": "get", "id", "timeout"}                                  -> outcome (see worker_peer.py)
"""
import json
import sys
import threading
import time
import traceback

from celery import Celery

from peer_json import safe
from worker_peer import outcome


def events(cfg):
    from celery.events.receiver import EventReceiver

    app = Celery("replies_events", broker=cfg["broker"])
    app.conf.update(cfg.get("conf") or {})

    class Receiver(EventReceiver):
        def on_consume_ready(self, connection, channel, consumers, **kwargs):
            super().on_consume_ready(connection, channel, consumers, **kwargs)
            print("ready", flush=True)

    def on_event(e):
        print(json.dumps(safe(dict(e), exceptions=False)), flush=True)

    with app.connection() as conn:
        recv = Receiver(conn, handlers={"*": on_event}, app=app)

        def wait_stop():
            for line in sys.stdin:
                if line.strip() == "stop":
                    break
            recv.should_stop = True

        threading.Thread(target=wait_stop, daemon=True).start()
        recv.capture(limit=None, timeout=None, wakeup=True)


def types_of(v):
    """The reply with every leaf replaced by its Python type's name (an int and a float differ)."""
    if isinstance(v, dict):
        return {str(k): types_of(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [types_of(x) for x in v]
    return type(v).__name__


def main():
    if sys.argv[1:] == ["events"]:
        return events(json.loads(sys.stdin.readline()))
    doc = json.load(sys.stdin)
    app = Celery("replies_peer", broker=doc["broker"], backend=doc.get("backend"))
    app.conf.update(doc.get("conf") or {})
    for op in doc["ops"]:
        kind = op["op"]
        try:
            if kind == "inspect":
                i = app.control.inspect(destination=op.get("destination"), timeout=op.get("timeout", 1.0))
                res = getattr(i, op["method"])(*(op.get("posargs") or []), **(op.get("args") or {}))
                if op.get("types"):
                    res = types_of(res)
            elif kind == "broadcast":
                floats = set(op.get("float_args") or [])  # JSON from JavaScript writes 5.0 as 5: make these floats again
                arguments = {k: float(v) if k in floats and v is not None else v for k, v in (op.get("arguments") or {}).items()}
                res = app.control.broadcast(op["method"], arguments=arguments, destination=op.get("destination"),
                                            reply=op.get("reply", True), timeout=op.get("timeout", 1.0))
            elif kind == "control":
                res = getattr(app.control, op["method"])(*(op.get("posargs") or []), **(op.get("args") or {}))
            elif kind == "bump_clock":
                # a worker's app.clock follows the events its gossip receives (control messages only move
                # kombu's mailbox clock): a worker-offline of a node that never was carries the clock
                app.clock.adjust(op["value"])
                with app.events.default_dispatcher(hostname=op.get("hostname", "clock@bump")) as d:
                    d.send("worker-offline")
                deadline = time.monotonic() + 10
                while True:
                    replies = app.control.inspect(destination=op["destination"], timeout=1.0).clock() or {}
                    if all(r.get("clock", 0) > op["value"] for r in replies.values()) and len(replies) == len(op["destination"]):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"clock not synced: {replies}")
                res = replies
            elif kind == "send":
                res = app.send_task(op["name"], args=op.get("args") or [], kwargs=op.get("kwargs") or {}, **(op.get("options") or {})).id
            elif kind == "get":
                res = outcome(app, op["id"], op.get("timeout", 10))
            else:
                raise ValueError(f"unknown op {kind}")
            print(json.dumps({"op": kind, "result": safe(res, exceptions=False)}), flush=True)
        except Exception as exc:
            print(json.dumps({"op": kind, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
