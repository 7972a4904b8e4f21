"""The Python side of bench/beat.ts: a Celery app whose beat_schedule is the bench's schedule, for
`celery -A beat_bench beat` (PersistentScheduler) and `-S redbeat.RedBeatScheduler`.

BENCH_BEAT_BROKER   the broker (a private redis-server of the bench)
BENCH_BEAT_ENTRIES  a JSON file: [{"name": ..., "every": seconds}, ...]
BENCH_BEAT_QUEUE    the queue every entry is sent to (nothing consumes it)
BENCH_BEAT_PREFIX   redbeat_key_prefix
"""
import json
import os

from celery import Celery

app = Celery('beat_bench', broker=os.environ['BENCH_BEAT_BROKER'])
with open(os.environ['BENCH_BEAT_ENTRIES']) as f:
    _entries = json.load(f)
_queue = os.environ['BENCH_BEAT_QUEUE']
app.conf.update(
    timezone='UTC',
    enable_utc=True,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    redbeat_redis_url=os.environ['BENCH_BEAT_BROKER'],
    redbeat_key_prefix=os.environ.get('BENCH_BEAT_PREFIX', 'redbeat:'),
    beat_schedule={
        e['name']: {'task': 'bench.beat.noop', 'schedule': float(e['every']), 'args': [e['name']], 'options': {'queue': _queue}}
        for e in _entries
    },
)
