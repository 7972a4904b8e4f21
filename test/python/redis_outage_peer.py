"""Python's side of test/interop/redis-outage.test.ts: a connected Celery producer whose Redis goes away.

argv: broker URL, queue, socket_timeout (seconds, or '-' for none). Sends one task while Redis is up
(the producer is connected), prints `sent`, then for each line read from stdin ('go') calls
apply_async again with Celery's default retry policy and prints one JSON line: the exception's class
(module.name) and message, or null, and the seconds the call took.
"""
import json
import sys
import time

from celery import Celery

url, queue, socket_timeout = sys.argv[1], sys.argv[2], sys.argv[3]
app = Celery('redis_outage_peer', broker=url)
if socket_timeout != '-':
    app.conf.broker_transport_options = {'socket_timeout': float(socket_timeout)}

app.send_task('outage.noop', args=['before'], queue=queue)
print('sent', flush=True)
for line in sys.stdin:
    t0 = time.monotonic()
    try:
        app.send_task('outage.noop', args=[line.strip()], queue=queue)
        out = {'error': None}
    except Exception as exc:  # noqa: BLE001 - the class is what the test compares
        out = {'error': f'{type(exc).__module__}.{type(exc).__name__}', 'message': str(exc)}
    out['seconds'] = round(time.monotonic() - t0, 3)
    print(json.dumps(out), flush=True)
