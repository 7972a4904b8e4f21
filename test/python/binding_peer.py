"""Python callers of the argument-binding interop suite (test/interop/binding.test.ts, issue 12).

stdin: {"broker", "backend", "conf", "routes", "default_queue", "timeout", "idle", "hold_queue",
        "calls":  [{"key", "name", "form", "args", "kwargs"}],
        "canvas": [{"key", "kind", ...}],
        "typing": [{"key", "name", "form", "args", "kwargs"}],
        "events": true}
stdout (one JSON document):
  {"outcomes": {key: {role: {"id", "state", "ok", "value" | "error": {"type", "module", "is_type_error", "text"}}}},
   "extra_ids": {key: {id: label}} (a chord's group and header ids),
   "typing":   {key: {"raised": bool, "type", "module", "is_type_error", "text"}},
   "events":   {uuid: {field: value}}, "event_types": {uuid: {field: type name}}}

The calls go through an app that has none of the tasks registered (`caller`), so every form (send_task,
signature(...).apply_async(), a partial signature completed by delay(), canvas) reaches the wire as
written: Celery's producer-side `typing` check only runs for tasks the producer has registered. The
"typing" ops are that check itself: the registered bpy.* tasks of binding_tasks.py raise TypeError
before anything is sent (to `hold_queue`, which nothing consumes), called as task.apply_async(args,
kwargs) ("apply_async"), task.signature(args, kwargs).apply_async() ("signature") and as the first step
of chain(task.signature(args, kwargs), ident.s()).apply_async() ("chain").

Call forms ("result" role): "send_task" app.send_task(name, args, kwargs); "signature"
signature(name, args, kwargs).apply_async(); "partial" signature(name, args[1:], first half of
kwargs).apply_async(args[:1], the rest) (Celery prepends the call's args and merges the kwargs).
Canvas kinds (each sig is [name, args, kwargs]) and their roles:
  chain   {"first", "step"}         chain(first, step): step gets first's result prepended. result (the
                                    step), parent (first)
  chord   {"header": [sig...], "body"}  result (the body; get() follows the header)
  link    {"parent", "link"}        parent.apply_async(link=link): link gets the parent's result prepended.
                                    result (the callback, its id frozen before sending), parent
  errback {"parent", "errback"}     parent.apply_async(link_error=errback): an old-style errback gets the
                                    failed task's id. result (the errback), parent
  starmap {"task", "it"}            xstarmap(task, it): the celery.starmap built-in calls task(*item)
  map     {"task", "it"}            xmap(task, it): the celery.map built-in calls task(item)
  call    {"sig"}                   signature(...).apply_async()
Every task is instant: the script waits until all results are ready or none got ready for `idle`
seconds (a task never sent stays PENDING: an outcome too), then reads them (get() raises as Celery's).
"""
import datetime
import json
import sys
import threading
import time

from celery import Celery, chain, chord, signature, states
from celery.canvas import xmap, xstarmap

doc = json.load(sys.stdin)
TIMEOUT = doc.get("timeout", 30)

caller = Celery("binding_caller", broker=doc["broker"], backend=doc["backend"], set_as_current=True)
caller.conf.update(task_default_queue=doc["default_queue"], task_routes=doc["routes"])
caller.conf.update(doc.get("conf") or {})
caller.set_current()
caller.set_default()


from peer_json import safe as _safe  # noqa: E402


def safe(v):
    return _safe(v, exceptions=False)


def sig(spec):
    name, args, kwargs = (list(spec) + [[], {}])[:3]
    return signature(name, args=tuple(args), kwargs=dict(kwargs), app=caller)


# ---- task-failed events, captured by Celery's own EventReceiver ------------------------------------------------
failed_events = {}
event_types = {}
receiver_ready = threading.Event()
receiver = None


def on_failed(event):
    uuid = event.get("uuid")
    failed_events[uuid] = safe(event)
    event_types[uuid] = {k: type(v).__name__ for k, v in event.items()}


def capture():
    global receiver

    class Receiver(caller.events.Receiver):
        def on_consume_ready(self, *a, **kw):
            super().on_consume_ready(*a, **kw)
            receiver_ready.set()

    with caller.connection_for_read() as conn:
        receiver = Receiver(conn, handlers={"task-failed": on_failed}, app=caller)
        receiver.capture(limit=None, timeout=None, wakeup=False)


if doc.get("events"):
    threading.Thread(target=capture, daemon=True).start()
    if not receiver_ready.wait(20):
        raise SystemExit("the event receiver did not get ready")

# ---- send everything first, then wait for everything ------------------------------------------------------------
pending = []  # (key, role, AsyncResult)
extra_ids = {}  # key: {id: label}, ids a record may hold that are no role's


def send_call(c):
    args, kwargs, form = list(c.get("args") or []), dict(c.get("kwargs") or {}), c["form"]
    if form == "send_task":
        return caller.send_task(c["name"], args=args, kwargs=kwargs)
    if form == "signature":
        return signature(c["name"], args=tuple(args), kwargs=kwargs, app=caller).apply_async()
    if form == "partial":
        items = list(kwargs.items())
        half = len(items) // 2
        part = signature(c["name"], args=tuple(args[1:]), kwargs=dict(items[:half]), app=caller)
        # apply_async, not delay(*args, **kwargs): a keyword named `self` would hit delay's own `self`
        return part.apply_async(tuple(args[:1]), dict(items[half:]))
    raise ValueError(f"unknown form {form}")


def send_canvas(c):
    """{role: AsyncResult}: "result" is what apply_async returned (or the callback's own result)."""
    kind = c["kind"]
    if kind == "chain":
        r = chain(sig(c["first"]), sig(c["step"]), app=caller).apply_async()
        return {"result": r, "parent": r.parent}
    if kind == "chord":
        r = chord([sig(h) for h in c["header"]], app=caller)(sig(c["body"]))
        # the body's record names its header (group_id, and the header task that applied it as parent_id)
        extra_ids[c["key"]] = {r.parent.id: "group", **{h.id: "header" for h in r.parent.results}}
        return {"result": r}
    if kind in ("link", "errback"):
        cb = sig(c[kind])
        cb.freeze()
        opts = {"link": cb} if kind == "link" else {"link_error": cb}
        parent = sig(c["parent"]).apply_async(**opts)
        return {"result": caller.AsyncResult(cb.id), "parent": parent}
    if kind == "starmap":
        return {"result": xstarmap(signature(c["task"], app=caller), [tuple(x) for x in c["it"]]).apply_async()}
    if kind == "map":
        return {"result": xmap(signature(c["task"], app=caller), c["it"]).apply_async()}
    if kind == "call":
        return {"result": sig(c["sig"]).apply_async()}
    raise ValueError(f"unknown canvas kind {kind}")


for c in doc.get("calls") or []:
    pending.append((c["key"], "result", send_call(c)))
for c in doc.get("canvas") or []:
    for role, r in send_canvas(c).items():
        pending.append((c["key"], role, r))


def error_of(exc):
    return {"type": type(exc).__name__, "module": type(exc).__module__, "is_type_error": isinstance(exc, TypeError),
            "text": str(exc)}


# every task here is instant: wait until all are ready, or until none got ready for IDLE seconds (a task that
# was never sent stays PENDING: that is an outcome too)
IDLE = doc.get("idle", 4)
waiting = {(key, role): r for key, role, r in pending}
last_progress = time.time()
end = time.time() + TIMEOUT
while waiting and time.time() - last_progress < IDLE and time.time() < end:
    for k, r in list(waiting.items()):
        # the backend's record, not r.ready(): an AsyncResult keeps the first ready state it read, and Celery
        # may store a task's FAILURE twice (a wrong old-style errback: the task's own exception, then the
        # errback's TypeError); the outcomes below are read once everything has settled
        if caller.backend.get_task_meta(r.id)["status"] in states.READY_STATES:
            del waiting[k]
            last_progress = time.time()
    time.sleep(0.05)

outcomes = {}
for key, role, r in pending:
    out = {"id": r.id, "state": r.state}
    if r.ready():
        try:
            out["value"] = safe(r.get(timeout=5, interval=0.05))
            out["ok"] = True
        except Exception as exc:  # noqa: BLE001 - the task's own exception, re-raised by get()
            out["ok"] = False
            out["error"] = error_of(exc)
    outcomes.setdefault(key, {})[role] = out

# ---- Celery's producer-side check (`typing`): the registered Python tasks raise before sending -------------------
typing_out = {}
if doc.get("typing"):
    import binding_tasks  # noqa: E402 - the worker module: its tasks are registered on its own app

    caller.set_current()
    for t in doc["typing"]:
        task = binding_tasks.app.tasks[t["name"]]
        args, kwargs, hold = tuple(t.get("args") or []), dict(t.get("kwargs") or {}), {"queue": doc["hold_queue"]}
        try:
            if t["form"] == "apply_async":
                task.apply_async(args=args, kwargs=kwargs, **hold)
            elif t["form"] == "signature":
                task.signature(args, kwargs, **hold).apply_async()
            elif t["form"] == "chain":
                chain(task.signature(args, kwargs, **hold), binding_tasks.ident.s().set(**hold)).apply_async()
            else:
                raise ValueError(f"unknown typing form {t['form']}")
            typing_out[t["key"]] = {"raised": False}
        except Exception as exc:  # noqa: BLE001
            typing_out[t["key"]] = {"raised": True, **error_of(exc)}

# ---- the task-failed events of every failed task -----------------------------------------------------------------
if doc.get("events"):
    want = {o["id"] for roles in outcomes.values() for o in roles.values() if o["state"] == "FAILURE"}
    # some FAILURE records have no event (chain steps Celery marks failed without running them): stop once
    # no event came for IDLE seconds
    seen, last_event = len(failed_events), time.time()
    while not want.issubset(failed_events) and time.time() - last_event < IDLE:
        if len(failed_events) != seen:
            seen, last_event = len(failed_events), time.time()
        time.sleep(0.05)
    if receiver is not None:
        receiver.should_stop = True

print(json.dumps({"outcomes": outcomes, "extra_ids": extra_ids, "typing": typing_out, "events": failed_events, "event_types": event_types}))
