"""Python side of the tracing interop test (test/interop/tracing.test.ts).

opentelemetry-instrumentation-celery is not installable here, so its propagation is emulated with
opentelemetry-api alone, in the same Celery signals and with the same global propagator (W3C trace
context + baggage) it uses: `before_task_publish` starts an `apply_async/<task>` span as a child of the
current context and injects it into the message headers; `task_prerun` extracts the context from the
task's request (a getter reading request attributes, as its CeleryGetter does), starts `run/<task>` as its
child and makes it current until `task_postrun`. Without the SDK a span is a NonRecordingSpan with fresh
ids; each one is written as a JSON line to $CELERIAC_TRACE_LOG (name, kind, trace/span/parent ids,
tracestate; a run span also gets the request's values of the keys the instrumentation reads).

Worker: `celery -A tracing_tasks worker -Q $CELERIAC_PY_QUEUE -P threads`.
Script (`python tracing_tasks.py`, {"label": ...} on stdin): opens a root span (tracestate py=1), sends
`tr.ts.leaf` from inside it, prints {"root": <span>, "id": <task id>}.
"""
import json
import os
import random
import sys
import threading

from celery import Celery, signals
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

app = Celery("tracing_tasks", broker=os.environ["CELERIAC_BROKER_URL"], backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(
    task_routes={"tr.py.*": {"queue": os.environ["CELERIAC_PY_QUEUE"]}, "tr.ts.*": {"queue": os.environ["CELERIAC_TS_QUEUE"]}},
    control_exchange=os.environ["CELERIAC_CONTROL_EXCHANGE"],
    event_exchange=os.environ["CELERIAC_EVENT_EXCHANGE"],
    worker_hijack_root_logger=False,
)
app.conf.update(json.loads(os.environ.get("CELERIAC_CONF") or "{}"))

LOG = os.environ["CELERIAC_TRACE_LOG"]
_lock = threading.Lock()
# the request keys opentelemetry-instrumentation-celery turns into attributes (utils.CELERY_CONTEXT_ATTRIBUTES)
CONTEXT_KEYS = ("compression", "correlation_id", "countdown", "delivery_info", "declare", "eta", "exchange", "expires",
                "hostname", "id", "priority", "queue", "reply_to", "retries", "routing_key", "serializer", "timelimit",
                "origin", "state")


def _record(span):
    with _lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(span, default=str) + "\n")


def _start(parent_ctx, name, kind, **extra):
    """A span as the SDK would start it under `parent_ctx` (same trace and tracestate, fresh span id)."""
    parent = trace.get_current_span(parent_ctx).get_span_context()
    trace_id = parent.trace_id if parent.is_valid else random.getrandbits(128)
    state = parent.trace_state if parent.is_valid else extra.pop("trace_state", TraceState())
    sc = SpanContext(trace_id, random.getrandbits(64), is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=state)
    span = {"name": name, "kind": kind, "trace_id": f"{trace_id:032x}", "span_id": f"{sc.span_id:016x}",
            "parent_span_id": f"{parent.span_id:016x}" if parent.is_valid else None, "tracestate": state.to_header(), **extra}
    _record(span)
    return trace.set_span_in_context(NonRecordingSpan(sc), parent_ctx), span


class RequestGetter(Getter):
    """Reads the task request's attributes, where Celery puts every message header."""

    def get(self, carrier, key):
        value = getattr(carrier, key, None)
        if value is None:
            return None
        return [value] if isinstance(value, str) else [str(value)]

    def keys(self, carrier):
        return []


_tokens = {}


@signals.before_task_publish.connect
def _before_publish(sender=None, headers=None, **_):
    ctx, _span = _start(otel_context.get_current(), f"apply_async/{sender}", "PRODUCER", task_id=headers.get("id"))
    inject(headers, context=ctx)


@signals.task_prerun.connect
def _prerun(task_id=None, task=None, **_):
    tracectx = extract(task.request, getter=RequestGetter()) or None
    parent = tracectx if tracectx is not None else otel_context.get_current()
    request = {}
    for key in CONTEXT_KEYS:
        value = task.request.get(key)
        if value is None or value == "":
            continue
        request[key] = str(value) if key == "delivery_info" else value
    ctx, _span = _start(parent, f"run/{task.name}", "CONSUMER", task_id=task_id, request=request)
    _tokens[task_id] = otel_context.attach(ctx)


@signals.task_postrun.connect
def _postrun(task_id=None, **_):
    token = _tokens.pop(task_id, None)
    if token is not None:
        otel_context.detach(token)


@app.task(name="tr.py.middle")
def middle(label):
    """Sends tr.ts.leaf (to the TypeScript worker) from inside its run span; returns its id."""
    return app.send_task("tr.ts.leaf", [label]).id


if __name__ == "__main__":
    label = json.load(sys.stdin)["label"]
    root_ctx, root = _start(otel_context.get_current(), "root", "INTERNAL", trace_state=TraceState([("py", "1")]))
    token = otel_context.attach(root_ctx)
    try:
        task_id = app.send_task("tr.ts.leaf", [label]).id
    finally:
        otel_context.detach(token)
    print(json.dumps({"root": root, "id": task_id}))
