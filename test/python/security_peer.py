"""Python producer of the message-signing interop test: sends task messages signed by Celery's auth
serializer (or spoiled on purpose) and reads results. JSON on stdin:

{"broker", "backend", "conf": {security_* ...}, "other_key", "other_cert", "ops": [
  {"op": "send", "name", "args", "queue", "kind": "signed" | "tampered" | "unsigned" | "foreign"} -> task id
  {"op": "get", "id", "timeout"} -> {"state", "result"}
  {"op": "ping", "timeout"} -> the hostnames that answered app.control.ping (signed both ways)
  {"op": "store", "id", "result"} -> the raw record the backend wrote (result_serializer as configured)
]}
prints one JSON list.
"""
import base64
import json
import sys
import uuid

from celery import Celery
from celery.security.certificate import Certificate
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer
from kombu.serialization import dumps

doc = json.load(sys.stdin)
app = Celery("security_peer", broker=doc["broker"], backend=doc["backend"])
app.conf.update({"task_serializer": "auth", "accept_content": ["auth"], "result_accept_content": ["json"], **doc["conf"]})
app.setup_security()
conf = app.conf
mine = SecureSerializer(PrivateKey(open(conf.security_key).read()), Certificate(open(conf.security_certificate).read()))
other = SecureSerializer(PrivateKey(open(doc["other_key"]).read()), Certificate(open(doc["other_cert"]).read()))


def publish(op):
    tid = str(uuid.uuid4())
    m = app.amqp.create_task_message(tid, op["name"], op["args"], {})
    kind = op["kind"]
    ct = "application/data"
    if kind == "signed":
        body = mine.serialize(m.body)
    elif kind == "foreign":
        body = other.serialize(m.body)
    elif kind == "tampered":
        raw = base64.b64decode(mine.serialize(m.body))
        i = raw.rindex(b"\x00\x01") + 2
        inner = raw[i:].replace(json.dumps(op["args"]).encode(), json.dumps(op["tampered_args"]).encode(), 1)
        assert inner != raw[i:]
        body = base64.b64encode(raw[:i] + inner)
    else:
        ct, _, body = dumps(m.body, serializer="json")
    with app.producer_or_acquire() as p:
        p.publish(body, exchange="", routing_key=op["queue"], headers=m.headers, content_type=ct,
                  content_encoding="utf-8", correlation_id=tid, retry=True)
    return tid


out = []
for op in doc["ops"]:
    if op["op"] == "send":
        out.append(publish(op))
    elif op["op"] == "ping":
        replies = app.control.ping(timeout=op.get("timeout", 2))
        out.append(sorted(h for r in replies for h in r))
    elif op["op"] == "store":
        app.backend.store_result(op["id"], op["result"], "SUCCESS")
        raw = app.backend.get(app.backend.get_key_for_task(op["id"]))
        out.append(base64.b64encode(raw).decode())
    else:
        r = app.AsyncResult(op["id"])
        try:
            r.get(timeout=op.get("timeout", 20), propagate=False)
        except Exception as exc:  # a timeout: report the state
            out.append({"state": r.state, "error": repr(exc)})
            continue
        out.append({"state": r.state, "result": r.result if r.state == "SUCCESS" else repr(r.result)})
print(json.dumps(out))
