"""app.control from real Celery 5.6 for test/interop/cli-control.test.ts: one process runs a list of
inspect and control calls and prints one JSON line per call. stdin: {"ops": [...]}, each op
  {"inspect": method, "args": [...], "kwargs": {...}, "destination": [...], "timeout": s}
      -> app.control.inspect(destination=..., timeout=...).<method>(*args, **kwargs)
  {"control": method, "args": [...], "kwargs": {...}}
      -> app.control.<method>(*args, **kwargs)   (kwargs carry reply/destination/timeout)
The app is cli_control_tasks.app, with the CC_* variables of stdin's "env"."""
import json
import os
import sys
import traceback


def main():
    doc = json.load(sys.stdin)
    os.environ.update(doc.get("env") or {})
    from cli_control_tasks import app
    for op in doc["ops"]:
        try:
            if "inspect" in op:
                i = app.control.inspect(destination=op.get("destination"), timeout=op.get("timeout", 1.0))
                res = getattr(i, op["inspect"])(*op.get("args", []), **op.get("kwargs", {}))
            else:
                res = getattr(app.control, op["control"])(*op.get("args", []), **op.get("kwargs", {}))
            print(json.dumps({"result": res}, default=repr), flush=True)
        except Exception as exc:  # the test shows it
            print(json.dumps({"error": repr(exc), "traceback": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
