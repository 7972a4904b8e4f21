"""What the Python modules of the canvas suites share (canvas_tasks.py, children_tasks.py).

The suite's environment names the broker, the backend and the queues (test/helpers/fleet.ts,
`fleetQueues`); `fleet_app` builds the Celery app from it, routing `<py>.*` to the Python queue and
`<ts>.*` to the TypeScript one. `run_script` is a module's script mode: it reads {"code": "..."} on
stdin, runs it in `scope` and prints the JSON of the variable `out`.
"""
import json
import os
import sys

from celery import Celery, chain, chord, group, signature

URL = os.environ["CELERIAC_BROKER_URL"]
BACKEND = os.environ.get("CELERIAC_BACKEND_URL") or URL
PYQ = os.environ["CELERIAC_PY_QUEUE"]
TSQ = os.environ["CELERIAC_TS_QUEUE"]
DEFQ = os.environ["CELERIAC_DEFAULT_QUEUE"]


def fleet_app(name, py_prefix, ts_prefix, **conf):
    """The app of a canvas suite's Python side; `conf` adds settings before the matrix's own (CELERIAC_CONF)."""
    app = Celery(name, broker=URL, backend=BACKEND)
    app.conf.update(
        task_default_queue=DEFQ,
        task_routes={f"{py_prefix}.*": {"queue": PYQ}, f"{ts_prefix}.*": {"queue": TSQ}},
        worker_hijack_root_logger=False,
        **conf,
    )
    # the broker's settings of the test matrix (task_queue_max_priority on RabbitMQ), as the TypeScript side has them
    app.conf.update(json.loads(os.environ.get("CELERIAC_CONF") or "{}"))
    return app


def run_script(app, scope, default=None):
    """Runs the code read from stdin with the app, the canvas classes and `scope`; prints `out` as JSON."""
    env = {"app": app, "chain": chain, "chord": chord, "group": group, "signature": signature, "json": json,
           "out": None, **scope}
    exec(json.load(sys.stdin)["code"], env)
    print(json.dumps(env["out"], default=default))
