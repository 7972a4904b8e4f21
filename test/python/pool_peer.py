"""Python side of the pool tests: app.control.revoke(id, terminate=True), as an operator's script does.

stdin: {"broker": url, "backend": url, "ops": [...]}; one JSON line per op on stdout.
  {"op": "revoke_terminate", "id", "signal"?, "destination"?} -> the replies (reply=True)
"""
import json
import sys

from celery import Celery


def main():
    doc = json.load(sys.stdin)
    app = Celery("pool_peer", broker=doc["broker"], backend=doc["backend"])
    for op in doc["ops"]:
        if op["op"] == "revoke_terminate":
            replies = app.control.revoke(op["id"], terminate=True, signal=op.get("signal") or "SIGTERM",
                                         destination=op.get("destination"), reply=True, timeout=3)
            print(json.dumps({"op": op["op"], "result": replies}), flush=True)


main()
