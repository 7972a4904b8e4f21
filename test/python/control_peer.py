"""Remote control from real Celery: app.control.inspect()/broadcast/revoke against TypeScript and Python
workers. stdin: {"broker", "backend", "conf", "ops"}; one JSON line per op on stdout.
Ops:
  {"op": "inspect", "method", "posargs", "args", "destination", "timeout"} -> inspect(...).<method>(*posargs, **args)
  {"op": "broadcast", "method", "arguments", "destination", "reply", "timeout"} -> app.control.broadcast(...)
  {"op": "revoke", "ids", "terminate"}                             -> None (app.control.revoke)
  {"op": "send", "name", "args", "options"}                        -> task id
  {"op": "get", "id", "timeout"}                                   -> outcome (see worker_peer.py)
"""
import datetime
import json
import sys
import traceback

from celery import Celery

from worker_peer import outcome, safe


def main():
    doc = json.load(sys.stdin)
    app = Celery("control_peer", broker=doc["broker"], backend=doc["backend"])
    app.conf.update(doc.get("conf") or {})
    for op in doc["ops"]:
        kind = op["op"]
        try:
            if kind == "inspect":
                i = app.control.inspect(destination=op.get("destination"), timeout=op.get("timeout", 1.0))
                res = getattr(i, op["method"])(*(op.get("posargs") or []), **(op.get("args") or {}))
            elif kind == "broadcast":
                res = app.control.broadcast(op["method"], arguments=op.get("arguments") or {}, destination=op.get("destination"),
                                            reply=op.get("reply", True), timeout=op.get("timeout", 1.0))
            elif kind == "revoke":
                res = app.control.revoke(op["ids"], terminate=op.get("terminate", False))
            elif kind == "send":
                opts = dict(op.get("options") or {})
                if isinstance(opts.get("eta"), str):
                    opts["eta"] = datetime.datetime.fromisoformat(opts["eta"])
                res = app.send_task(op["name"], args=op.get("args") or [], kwargs=op.get("kwargs") or {}, **opts).id
            elif kind == "get":
                res = outcome(app, op["id"], op.get("timeout", 10))
            else:
                raise ValueError(f"unknown op {kind}")
            print(json.dumps({"op": kind, "result": safe(res)}), flush=True)
        except Exception as exc:
            print(json.dumps({"op": kind, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
