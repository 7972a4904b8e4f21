"""Python side of the AMQP-broker interop tests: a real Celery app on RabbitMQ (results in Redis).

Environment: CELERIAC_BROKER_URL (amqp://...), CELERIAC_BACKEND_URL (redis://.../4), CELERIAC_CONF (JSON of
Celery settings, e.g. task_queues in Celery's dict form {name: {exchange, exchange_type, routing_key,
queue_arguments}}), CELERIAC_LIST (a Redis list every amqp.record call appends its argument to).
"""
import json
import os

import redis
from celery import Celery

def _ssl_conf(conf):
    """broker_use_ssl as Celery users write it: a JSON "CERT_REQUIRED" becomes ssl.CERT_REQUIRED."""
    import ssl
    bus = conf.get("broker_use_ssl")
    if isinstance(bus, dict) and isinstance(bus.get("cert_reqs"), str):
        conf = dict(conf, broker_use_ssl=dict(bus, cert_reqs=getattr(ssl, bus["cert_reqs"].replace("ssl.", ""))))
    return conf


app = Celery("amqp_tasks", broker=os.environ["CELERIAC_BROKER_URL"], backend=os.environ["CELERIAC_BACKEND_URL"])
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)
app.conf.update(_ssl_conf(json.loads(os.environ.get("CELERIAC_CONF") or "{}")))
_redis = redis.Redis.from_url(os.environ["CELERIAC_BACKEND_URL"])


@app.task(name="amqp.add")
def add(x, y):
    return x + y


@app.task(name="amqp.info", bind=True)
def info(self):
    r = self.request
    return {"lang": "py", "priority": (r.delivery_info or {}).get("priority"), "eta": r.eta,
            "routing_key": (r.delivery_info or {}).get("routing_key"), "headers_big": (r.headers or {}).get("big")}


@app.task(name="amqp.record", bind=True)
def record(self, i):
    _redis.rpush(os.environ.get("CELERIAC_LIST", "amqp:record"), json.dumps([i, "py", self.request.id]))
    return i
