"""Python side of test/interop/rpc-backend.test.ts: reads stdin JSON, prints one JSON document.

{"amqp": <broker url>, "redis": <redis broker url>, "ops": [...]}: a Python caller whose app has
broker=amqp and result_backend='rpc://' (so its RPCBackend reads replies from RabbitMQ). Tasks are sent
through a second app on the Redis broker (where the TypeScript worker consumes) with reply_to = the
amqp app's reply queue (its oid), exactly the reply_to Celery itself would put there.

ops:
  call     {name, args, queue, timeout}  -> {id, states: [every meta on_message saw], state, value|exception, traceback}
  declare  {queue_name, expires?}        -> {} : RPCBackend.binding declared under another name (argument equivalence check)
"""
import json
import sys
import uuid

from celery import Celery

from peer_json import exc_info, jsonable


def main():
    req = json.load(sys.stdin)
    caller = Celery('rpc_peer', broker=req['amqp'], backend='rpc://')
    sender = Celery('rpc_peer_sender', broker=req.get('redis') or req['amqp'])
    for app in (caller, sender):
        app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'],
                        **req.get('conf', {}))
    out = []
    for op in req['ops']:
        if op['op'] == 'call':
            task_id = str(uuid.uuid4())
            backend = caller.backend
            # on_task_call: the reply queue exists before the task is sent
            with caller.producer_or_acquire() as producer:
                backend.on_task_call(producer, task_id)
            sender.send_task(op['name'], args=op.get('args', []), kwargs=op.get('kwargs', {}),
                             task_id=task_id, queue=op['queue'], reply_to=backend.oid)
            r = caller.AsyncResult(task_id)
            states = []
            res = {'id': task_id, 'reply_to': backend.oid}
            try:
                v = r.get(timeout=op.get('timeout', 20), on_message=states.append, propagate=True,
                          disable_sync_subtasks=False)
                res['value'] = jsonable(v)
            except Exception as exc:  # noqa: BLE001
                res['exception'] = exc_info(exc)
                res['exception_repr'] = repr(exc)
            res['state'] = r.state
            res['traceback'] = r.traceback
            res['states'] = [jsonable(s) for s in states]
            out.append(res)
        elif op['op'] == 'declare':
            backend = caller.backend
            backend.__dict__['oid'] = op['queue_name']
            with caller.connection_for_write() as conn:
                backend.binding(conn.default_channel).declare()
            out.append({})
        else:
            raise ValueError(f'unknown op {op["op"]}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
