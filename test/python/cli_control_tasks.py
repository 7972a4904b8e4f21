"""Python side of test/interop/cli-control.test.ts: the app of the Python worker and of the real
`celery -A cli_control_tasks inspect/control/status` commands. Broker, backend and settings (a private
control_exchange / event_exchange per run) come from CC_BROKER, CC_BACKEND and CC_CONF (JSON)."""
import json
import os
import time

from celery import Celery

app = Celery("cli_control_tasks", broker=os.environ.get("CC_BROKER"), backend=os.environ.get("CC_BACKEND"))
app.conf.update(worker_hijack_root_logger=False, **json.loads(os.environ.get("CC_CONF") or "{}"))


@app.task(name="cc.add")
def add(x, y):
    return x + y


@app.task(name="cc.hold")
def hold(seconds, flag):
    """Runs until the file `flag` exists (or `seconds` passed): a task that is active while the test inspects."""
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(flag):
        time.sleep(0.05)
    return seconds


@app.task(name="cc.py_only", rate_limit="7/m")
def py_only():
    return "py"
