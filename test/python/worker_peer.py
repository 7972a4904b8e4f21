"""Python side of the worker interop tests: real Celery sends tasks and reads their results.

stdin: {"broker": url, "backend": url, "conf": {...}, "ops": [...]}; one JSON line per op on stdout.
Ops:
  {"op": "send", "name", "args", "kwargs", "options"}        -> task id (send_task)
  {"op": "send_many", "name", "n", "options"}                -> list of ids, args [i]
  {"op": "get", "id", "timeout"}                             -> outcome (state, result/exception, traceback)
  {"op": "get_many", "ids", "timeout"}                       -> list of outcomes
  {"op": "wait_state", "id", "state", "timeout"}             -> {"state", "info"} once seen
  {"op": "meta", "id"}                                       -> the backend's stored meta (json-safe)
  {"op": "chain", "steps": [[name, args]...], "options"}     -> ids of the steps (first..last)
  {"op": "link", "name", "args", "link": [name, args], "link_error": [name, args]|null} -> [id, link id]
"""
import datetime
import json
import sys
import time
import traceback

from celery import Celery, chain, signature, states


from peer_json import safe  # noqa: E402


def outcome(app, task_id, timeout):
    r = app.AsyncResult(task_id)
    try:
        r.get(timeout=timeout, propagate=False, interval=0.05)
    except Exception as exc:  # timeout
        return {"id": task_id, "state": r.state, "error": repr(exc)}
    meta = app.backend.get_task_meta(task_id)
    out = {"id": task_id, "state": r.state, "traceback": r.traceback, "meta": safe(meta)}
    if r.state == "SUCCESS":
        out["result"] = safe(r.result)
    else:
        out["exception"] = safe(r.result)
        out["exception_repr"] = repr(r.result)
    return out


def _ssl_conf(conf):
    """broker_use_ssl as Celery users write it: a JSON "CERT_REQUIRED" becomes ssl.CERT_REQUIRED."""
    import ssl
    bus = conf.get("broker_use_ssl")
    if isinstance(bus, dict) and isinstance(bus.get("cert_reqs"), str):
        conf = dict(conf, broker_use_ssl=dict(bus, cert_reqs=getattr(ssl, bus["cert_reqs"].replace("ssl.", ""))))
    return conf


def main():
    doc = json.load(sys.stdin)
    app = Celery("peer", broker=doc["broker"], backend=doc["backend"])
    app.conf.update(_ssl_conf(doc.get("conf") or {}))
    for op in doc["ops"]:
        kind = op["op"]
        try:
            if kind == "send":
                opts = dict(op.get("options") or {})
                for key in ("eta", "expires"):
                    if isinstance(opts.get(key), str):
                        opts[key] = datetime.datetime.fromisoformat(opts[key])
                r = app.send_task(op["name"], args=op.get("args") or [], kwargs=op.get("kwargs") or {}, **opts)
                res = r.id
            elif kind == "send_many":
                res = [app.send_task(op["name"], args=[i], **(op.get("options") or {})).id for i in range(op["n"])]
            elif kind == "get":
                res = outcome(app, op["id"], op.get("timeout", 10))
            elif kind == "get_many":
                res = [outcome(app, i, op.get("timeout", 10)) for i in op["ids"]]
            elif kind == "wait_state":
                r = app.AsyncResult(op["id"])
                deadline = time.time() + op.get("timeout", 10)
                seen = []
                while time.time() < deadline:
                    st = r.state
                    if not seen or seen[-1] != st:
                        seen.append(st)
                    if st == op["state"] or st in states.READY_STATES:
                        break
                    time.sleep(0.02)
                res = {"state": r.state, "info": safe(r.info), "seen": seen}
            elif kind == "meta":
                res = safe(app.backend.get_task_meta(op["id"]))
            elif kind == "chain":
                sigs = [signature(n, args=a, app=app, **(op.get("options") or {})) for n, a in op["steps"]]
                c = chain(*sigs)
                r = c.apply_async()
                ids = []
                node = r
                while node is not None:
                    ids.append(node.id)
                    node = node.parent
                res = list(reversed(ids))
            elif kind == "link":
                n, a = op["link"]
                link = signature(n, args=a, app=app, **(op.get("options") or {}))
                link.freeze()
                kw = {"link": link}
                if op.get("link_error"):
                    en, ea = op["link_error"]
                    le = signature(en, args=ea, app=app, **(op.get("options") or {}))
                    kw["link_error"] = le
                r = app.send_task(op["name"], args=op.get("args") or [], **kw, **(op.get("options") or {}))
                res = [r.id, link.id]
            else:
                raise ValueError(f"unknown op {kind}")
            print(json.dumps({"op": kind, "result": res}), flush=True)
        except Exception as exc:
            print(json.dumps({"op": kind, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
