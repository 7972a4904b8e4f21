"""Celery's own Dumper (`celery events --dump`) on events read from stdin, for test/interop/cli-events.test.ts.

stdin: {"events": [event, ...]} (JSON text written by Python, so floats stay floats).
stdout: one JSON line: {"lines": [the text Dumper.on_event printed for each event]}.
"""
import io
import json
import sys

from celery.events.dumper import Dumper

lines = []
for e in json.load(sys.stdin)["events"]:
    out = io.StringIO()
    Dumper(out=out).on_event(dict(e))
    lines.append(out.getvalue()[:-1])
print(json.dumps({"lines": lines}))
