"""Ground truth for test/unit/binding-paths.test.ts: what Celery's `_call_task_errbacks` passes to an
errback it calls inline (Celery 5's `(request, exc, traceback)` errbacks), for errback signatures with
arguments of their own, immutable ones and bound ones, or the TypeError of a wrong one.

Reads {"errbacks": [{"task": "e.on_err" | "e.bound_err", "args": [...], "kwargs": {...}, "immutable": bool}]}
and writes {"results": [{"got": {...}} | {"error": "<TypeError message>"}]}, `got` holding each
parameter's value, with the request as its id and the exception as its str.
"""
import json
import sys

from celery import Celery
from celery.app.task import Context

app = Celery(set_as_current=False, backend='cache+memory://')
got = []


def show(v):
    if isinstance(v, Context):
        return {'request': v.id}
    if isinstance(v, BaseException):
        return {'exc': str(v)}
    return v


@app.task(name='e.on_err')
def on_err(request, exc, traceback, tag='none', *more, **extra):
    got.append({'request': show(request), 'exc': show(exc), 'traceback': show(traceback), 'tag': show(tag),
                'more': [show(m) for m in more], 'extra': {k: show(v) for k, v in extra.items()}})


@app.task(name='e.bound_err', bind=True)
def bound_err(self, request, exc, traceback, tag):
    got.append({'self': self.name, 'request': show(request), 'exc': show(exc), 'traceback': show(traceback), 'tag': show(tag)})


app.finalize()
results = []
for e in json.load(sys.stdin)['errbacks']:
    sig = app.signature(e['task'], args=e['args'], kwargs=e['kwargs'], immutable=e['immutable'])
    request = Context(id='the-failed-id', errbacks=[dict(sig)], delivery_info={})
    got.clear()
    try:
        app.backend._call_task_errbacks(request, ValueError('boom'), 'the traceback')
        results.append({'got': got[0]})
    except TypeError as exc:
        results.append({'error': str(exc)})
print(json.dumps({'results': results}))
