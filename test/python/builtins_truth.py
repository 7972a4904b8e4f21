"""Ground truth for test/contract/bind-args.test.ts: Celery's own check of a call to its built-in tasks.

Reads {"calls": [{"task": "celery.map", "args": [...], "kwargs": {...}}]} on stdin and writes
{"results": [null | "<TypeError message>"]}: what `app.tasks[task].__header__(*args, **kwargs)` raises,
the check Celery's `typing` runs, made from the built-in's function (`xmap(task, it)`, `group(self, ...)`
bound), so its text is the one the function's own call raises in a Python worker.
"""
import json
import sys

from celery import Celery

app = Celery(set_as_current=False)
app.finalize()
results = []
for call in json.load(sys.stdin)['calls']:
    try:
        app.tasks[call['task']].__header__(*call['args'], **call['kwargs'])
        results.append(None)
    except TypeError as exc:
        results.append(str(exc))
print(json.dumps({'results': results}))
