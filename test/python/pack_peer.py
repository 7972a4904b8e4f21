"""The Python side of test/package/pack.test.ts (the package installed from its tarball).

As a Celery app (`celery -A pack_peer worker -Q <queue>`, PACK_REDIS_URL the broker and backend): serves
`pack.py_mul`, which `celeriac call -A <app module> pack.py_mul --args '[6, 7]' --wait` sends.

As a script (`python pack_peer.py`, a JSON document on stdin): a Python producer for the TypeScript
workers. `{"url": ..., "timeout": s, "jobs": [{"task", "args", "queue"}, ...]}`: sends every job with
`send_task`, then reads each result with `AsyncResult.get()`; prints `[{"ok": true, "result": ...} |
{"ok": false, "error": ..., "state": ...}, ...]` in the jobs' order.
"""
import json
import os
import sys

from celery import Celery

URL = os.environ.get('PACK_REDIS_URL', 'redis://127.0.0.1:6379/13')
app = Celery('pack_peer', broker=URL, backend=URL)
app.conf.broker_connection_retry_on_startup = True


@app.task(name='pack.py_mul')
def py_mul(x, y):
    return x * y


def main():
    doc = json.load(sys.stdin)
    app.conf.update(broker_url=doc['url'], result_backend=doc['url'])
    timeout = doc.get('timeout', 30)
    sent = [app.send_task(job['task'], args=job.get('args', []), queue=job['queue']) for job in doc['jobs']]
    out = []
    for r in sent:
        try:
            out.append({'ok': True, 'result': r.get(timeout=timeout)})
        except Exception as e:  # noqa: BLE001 - reported to the test as it is
            out.append({'ok': False, 'error': f'{type(e).__name__}: {e}', 'state': r.state})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
