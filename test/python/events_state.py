"""celery.events.state.State fed the events of a JSON document, for test/unit/events-state.test.ts.

stdin: {"runs": [run, ...]}, a run being {"events": [...], "now": float, "max_tasks": int?,
"max_workers": int?, "node_leave": bool?, "steps": [int, ...]?}. Each run feeds a new State, event by
event, as the receiver hands them over; its result is the snapshot of the State after the events (and
after each index in "steps"). Prints one JSON line: the list of results. `now` is the time
`Worker.alive` compares with (its default argument, replaced).
"""
import gc
import json
import sys

from celery.events.state import State, Worker

def run(doc):
    Worker.alive.fget.__defaults__ = (lambda now=doc["now"]: now,)
    left = []
    kwargs = {}
    if doc.get("max_tasks"):
        kwargs["max_tasks_in_memory"] = doc["max_tasks"]
    if doc.get("max_workers"):
        kwargs["max_workers_in_memory"] = doc["max_workers"]
    if doc.get("node_leave"):
        kwargs["on_node_leave"] = lambda w: left.append(w.hostname)
    state = State(**kwargs)

    def snapshot():
        gc.collect()  # dropped tasks (a reference cycle each) leave the weak sets and the heap's references
        workers = {}
        for host, w in state.workers.items():
            d = {k: getattr(w, k) for k in Worker._fields}
            d["heartbeats"] = list(w.heartbeats)
            d["alive"] = w.alive
            d["status_string"] = w.status_string
            d["id"] = w.id
            d["repr"] = repr(w)
            workers[host] = d
        tasks = {}
        for uuid, t in state.tasks.items():
            d = t.as_dict()
            d["worker"] = t.worker.hostname if t.worker is not None else None
            d["children"] = sorted(d["children"])
            d["info"] = t.info(extra=["state"])
            d["ready"] = t.ready
            d["origin"] = t.origin
            d["repr"] = repr(t)
            tasks[uuid] = d
        return {
            "workers": workers,
            "worker_order": list(state.workers.keys()),
            "tasks": tasks,
            "task_order": list(state.tasks.keys()),
            "by_time": [u for u, _ in state.tasks_by_time()],
            "by_time_5": [u for u, _ in state.tasks_by_time(limit=5)],
            "by_time_asc": [u for u, _ in state.tasks_by_time(reverse=False)],
            "task_types": state.task_types(),
            "by_type": {k: sorted(t.uuid for t in v) for k, v in state.tasks_by_type.items() if v},
            "by_worker": {k: sorted(t.uuid for t in v) for k, v in state.tasks_by_worker.items() if v},
            "alive": sorted(w.hostname for w in state.alive_workers()),
            "event_count": state.event_count,
            "task_count": state.task_count,
            "left": list(left),
            "repr": repr(state),
        }


    steps = set(doc.get("steps") or [])
    out = {"steps": {}}
    for i, e in enumerate(doc["events"]):
        state.event(e)
        if i in steps:
            out["steps"][str(i)] = snapshot()
    out["final"] = snapshot()
    return out


print(json.dumps([run(doc) for doc in json.load(sys.stdin)["runs"]]))
