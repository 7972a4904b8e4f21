"""Python side of test/interop/redis-backend.test.ts: reads stdin JSON {"op": ..., ...}, prints JSON.

ops:
  send         {name, args, task_id, queue}                 -> {"id"}
  read         {task_id, get_timeout?, propagate?}          -> state/info/traceback/get outcome
  key          {task_id, group_id}                          -> backend keys (honours global_keyprefix)
  encode       {task_id, state, result}                     -> the bytes Python's backend would store
  group_save   {group_id, ids}                              -> {}
  group_restore{group_id}                                   -> {"ids": [...]} or null
"""
import json
import sys
import traceback as tb_mod

sys.path.insert(0, __import__('os').path.dirname(__file__))

from celery.result import AsyncResult, GroupResult  # noqa: E402

from backend_tasks import app  # noqa: E402
from peer_json import exc_info, jsonable as _jsonable  # noqa: E402


def describe_exc(exc):
    return exc_info(exc, full=True)


def jsonable(v):
    return _jsonable(v, full=True)


def main():
    req = json.load(sys.stdin)
    op = req['op']
    if op == 'send':
        r = app.send_task(req['name'], args=req.get('args', []), kwargs=req.get('kwargs', {}),
                          task_id=req['task_id'], queue=req['queue'])
        out = {'id': r.id}
    elif op == 'read':
        r = AsyncResult(req['task_id'], app=app)
        out = {'state': r.state, 'info': jsonable(r.info), 'traceback': r.traceback,
               'date_done': r.date_done.isoformat() if r.date_done else None}
        if 'get_timeout' in req:
            r2 = AsyncResult(req['task_id'], app=app)
            try:
                v = r2.get(timeout=req['get_timeout'], propagate=req.get('propagate', True),
                           disable_sync_subtasks=False)
                out['get'] = {'value': jsonable(v), 'state': r2.state}
            except Exception as exc:  # noqa: BLE001
                out['get'] = {'raised': describe_exc(exc), 'state': r2.state,
                              'traceback': r2.traceback}
    elif op == 'key':
        out = {'task': app.backend.get_key_for_task(req['task_id']).decode()
               if isinstance(app.backend.get_key_for_task(req['task_id']), bytes)
               else app.backend.get_key_for_task(req['task_id'])}
        g = app.backend.get_key_for_group(req['group_id'])
        out['group'] = g.decode() if isinstance(g, bytes) else g
    elif op == 'encode':
        meta = app.backend._get_result_meta(result=req['result'], state=req['state'], traceback=None, request=None)
        meta['task_id'] = req['task_id']
        out = {'encoded': app.backend.encode(meta)}
    elif op == 'group_save':
        GroupResult(req['group_id'], [AsyncResult(i, app=app) for i in req['ids']], app=app).save()
        out = {}
    elif op == 'group_restore':
        g = GroupResult.restore(req['group_id'], app=app)
        out = None if g is None else {'id': g.id, 'ids': [r.id for r in g.results]}
    else:
        raise SystemExit(f'unknown op {op}')
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    try:
        main()
    except Exception:
        tb_mod.print_exc()
        sys.exit(1)
