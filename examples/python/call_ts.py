"""Python side of the demo's second half: a Python producer calls a task that a TypeScript process runs.

Usage: python call_ts.py <task name> <queue> <json args>
Prints the result the TypeScript side stored, as JSON, or the error it raised.
"""
import json
import sys

from tasks import app

name, queue, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
result = app.send_task(name, args=args, queue=queue)
try:
    value = result.get(timeout=20)
    print(json.dumps({"task_id": result.id, "state": result.state, "result": value}))
except Exception as exc:  # a FAILURE stored by TypeScript arrives as a Python exception
    print(json.dumps({"task_id": result.id, "state": result.state, "error": repr(exc)}))
