"""Real Celery / kombu on the Redis transport, driven by the Redis-broker interop tests.

Reads one JSON object on stdin:
  {"redis_url": "redis://127.0.0.1:6379/7", "transport_options": {...}, "ops": [op, ...]}
and runs the ops in order with one kombu Connection/Channel (and one Celery app for "send"), printing
one line of kombu JSON per op: {"op": ..., "result": ...} or {"op": ..., "error": "<repr>"} (then stops).

Ops:
  {"op": "send", "name": "t.add", "args": [..], "kwargs": {..}, "options": {priority, queue, routing_key,
   exchange, task_id}, "queues": [{"name", "exchange", "type", "routing_key"}]}   -> task id
      Celery app.send_task with task_queues built from "queues" (Celery declares the queue it routes to).
  {"op": "declare", "queue", "exchange", "type", "routing_key"}                 -> null (kombu Queue.declare)
  {"op": "get", "queue", "count": n}  -> up to n messages via basic_get(no_ack=True):
      [{"headers", "properties", "delivery_info", "content_type", "body", "delivery_tag"}, ...]
  {"op": "get_and_die", "queue"}      -> basic_get(no_ack=False), prints {"delivery_tag", "unacked": <HGET
      unacked value>, "index_score"}, then os._exit(0) so kombu cannot restore it (a crashed worker)
  {"op": "restore_visible"}           -> kombu QoS.restore_visible(num=unacked_restore_limit) (first call
      of a fresh QoS always scans); result: number of tags left in unacked_index afterwards
  {"op": "hget_unacked", "tag"}        -> the raw unacked hash value (str) or null
  {"op": "kombu_restored", "unacked"}  -> the list element kombu's restore_by_tag would push for that
      unacked hash value (Channel._do_restore_message: both redelivered flags, then dumps)
"""
import json
import os
import sys
import traceback

from celery import Celery
from kombu import Connection, Exchange, Queue
from kombu.utils.json import dumps

DROP = {"delivery_info", "body_encoding", "delivery_tag", "application_headers", "content_type",
        "content_encoding"}


def message_view(m):
    return {
        "headers": m.headers,
        "properties": {k: v for k, v in m.properties.items() if k not in DROP},
        "delivery_info": m.delivery_info,
        "content_type": m.content_type,
        "body": m.decode(),
        "delivery_tag": m.delivery_tag,
    }


def main():
    spec = json.load(sys.stdin)
    url = spec["redis_url"]
    topts = spec.get("transport_options", {})
    conn = Connection(url, transport_options=topts)
    channel = conn.default_channel
    client = channel.client  # prefixes keys itself when global_keyprefix is set
    out = sys.stdout
    app = None
    for op in spec["ops"]:
        kind = op["op"]
        try:
            if kind == "send":
                if app is None:
                    app = Celery("peer", broker=url)
                    app.conf.update(broker_transport_options=topts, task_serializer="json",
                                    accept_content=["json"])
                queues = [Queue(q["name"], Exchange(q["exchange"], q.get("type", "direct")),
                                routing_key=q["routing_key"]) for q in op.get("queues", [])]
                if queues:
                    app.conf.task_queues = queues
                r = app.send_task(op["name"], args=op.get("args", []), kwargs=op.get("kwargs", {}),
                                  **op.get("options", {}))
                result = r.id
            elif kind == "declare":
                Queue(op["queue"], Exchange(op["exchange"], op.get("type", "direct")),
                      routing_key=op["routing_key"])(channel).declare()
                result = None
            elif kind == "get":
                result = []
                for _ in range(op.get("count", 1)):
                    m = channel.basic_get(op["queue"], no_ack=True)
                    if m is None:
                        break
                    result.append(message_view(m))
            elif kind == "get_and_die":
                m = channel.basic_get(op["queue"], no_ack=False)
                if m is None:
                    raise LookupError("queue %r is empty" % op["queue"])
                tag = m.delivery_tag
                raw = client.hget(channel.unacked_key, tag)
                score = client.zscore(channel.unacked_index_key, tag)
                out.write(dumps({"op": kind, "result": {
                    "delivery_tag": tag, "unacked": raw.decode() if raw else None,
                    "index_score": score, "message": message_view(m)}}) + "\n")
                out.flush()
                os._exit(0)
            elif kind == "restore_visible":
                channel.qos.restore_visible(num=channel.unacked_restore_limit)
                result = client.zcard(channel.unacked_index_key)
            elif kind == "hget_unacked":
                raw = client.hget(channel.unacked_key, op["tag"])
                result = raw.decode() if raw else None
            elif kind == "kombu_restored":
                from kombu.utils.json import loads
                payload, _ex, _rk = loads(op["unacked"])
                payload['headers']['redelivered'] = True
                payload['properties']['delivery_info']['redelivered'] = True
                result = dumps(payload)
            else:
                raise ValueError("unknown op %r" % kind)
            out.write(dumps({"op": kind, "result": result}) + "\n")
        except Exception as exc:  # report and stop
            out.write(dumps({"op": kind, "error": repr(exc), "traceback": traceback.format_exc()}) + "\n")
            break
    out.flush()
    # no restore at exit: basic_get(no_ack=True) holds nothing, and get_and_die never gets here
    conn.release()


if __name__ == "__main__":
    main()
