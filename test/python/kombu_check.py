"""Decodes messages that celeriac published, with real kombu and Celery, and prints what they saw.

Reads one JSON object on stdin:
  {"redis_url": "redis://127.0.0.1:6379/14", "amqp_url": "amqp://guest:guest@127.0.0.1:5672//",
   "accept": ["json", "msgpack", "yaml"],
   "messages": [{"id": "m1", "transport": "redis"|"amqp", "queue": "<queue name>"}, ...]}
For each message it takes one message from the queue with kombu's basic_get, decodes it the way a
Celery worker does (decompression, accept_content, v1->v2 conversion) and builds Celery's worker
`Request` from it, then prints one line of kombu JSON per message:
  {"id": ..., "ok": true, "message": {headers, properties, content_type, content_encoding, body},
   "request": {id, name, eta, expires, timelimit, ...}}
or {"id": ..., "ok": false, "error": "<exception repr>"}.
"""
import json
import sys
import traceback

import celery
import kombu
from celery import Celery
from celery.worker.request import Request
from celery.worker.strategy import hybrid_to_proto2, proto1_to_proto2
from kombu import Connection
from kombu.utils.json import dumps

DROP = {"delivery_info", "body_encoding", "delivery_tag", "application_headers", "content_type",
        "content_encoding"}


def request_view(app, message):
    headers = message.headers
    body = message.decode()
    if "task" not in headers:  # protocol v1, as the worker's strategy does it
        if "args" in body:
            body, headers, decoded, utc = proto1_to_proto2(message)
        else:
            raise ValueError("not a task message")
    elif isinstance(body, dict) and "args" in body:
        body, headers, decoded, utc = hybrid_to_proto2(message, body)
    name = headers["task"]
    if name not in app.tasks:
        def anytask(*args, **kwargs):
            return None
        app.task(name=name)(anytask)
    req = Request(message, app=app, headers=headers, body=body, decoded=True,
                  task=app.tasks[name])
    return {
        "id": req.id, "name": req.name, "eta": req.eta and req.eta.isoformat(),
        "expires": req.expires and req.expires.isoformat(), "time_limits": list(req.time_limits),
        "root_id": req.root_id, "parent_id": req.parent_id, "group": req.group,
        "group_index": req.group_index, "reply_to": req.reply_to, "correlation_id": req.correlation_id,
        "argsrepr": req.argsrepr, "kwargsrepr": req.kwargsrepr, "args": list(req.args),
        "kwargs": req.kwargs, "ignore_result": req.ignore_result,
        "retries": req.request_dict.get("retries"), "stamps": req.stamps,
        "callbacks": req.request_dict.get("callbacks"), "errbacks": req.request_dict.get("errbacks"),
        "chain": req.request_dict.get("chain"), "chord": req.request_dict.get("chord"),
    }


def main():
    spec = json.load(sys.stdin)
    accept = spec.get("accept", ["json"])
    app = Celery("kombu_check", broker="memory://")
    app.conf.update(accept_content=accept, timezone="UTC", enable_utc=True)
    conns = {}
    out = sys.stdout
    for item in spec["messages"]:
        transport = item["transport"]
        try:
            if transport not in conns:
                url = spec["redis_url"] if transport == "redis" else spec["amqp_url"]
                conns[transport] = Connection(url, transport_options={})
            channel = conns[transport].default_channel
            raw = channel.basic_get(item["queue"], no_ack=True)
            if raw is None:
                raise LookupError(f"queue {item['queue']!r} is empty")
            message = raw if transport == "redis" else channel.message_to_python(raw)
            message.accept = kombu.serialization.prepare_accept_content(accept)
            body = message.decode()
            props = {k: v for k, v in message.properties.items() if k not in DROP}
            view = {"headers": message.headers, "properties": props, "content_type": message.content_type,
                    "content_encoding": message.content_encoding, "body": body}
            line = {"id": item["id"], "ok": True, "message": view}
            try:
                line["request"] = request_view(app, message)
            except Exception as exc:  # the message decoded but Celery's worker would refuse it
                line["request_error"] = repr(exc)
        except Exception as exc:
            line = {"id": item["id"], "ok": False, "error": repr(exc), "traceback": traceback.format_exc()}
        out.write(dumps(line) + "\n")
    out.write(dumps({"versions": {"celery": celery.__version__, "kombu": kombu.__version__}}) + "\n")
    for c in conns.values():
        c.release()


if __name__ == "__main__":
    main()
