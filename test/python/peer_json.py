"""JSON for what the Python peers print (rpc_peer.py, backend_peer.py, worker_peer.py, binding_peer.py)."""
import datetime
import json


def exc_info(exc, full=False):
    """An exception as {type, module, args}; `full` adds its repr and whether it is an exception instance."""
    out = {
        'type': type(exc).__name__,
        'module': type(exc).__module__,
        'args': [a if isinstance(a, (str, int, float, bool, type(None), list, dict)) else repr(a) for a in exc.args],
    }
    if full:
        out['repr'] = repr(exc)
        out['is_exception'] = isinstance(exc, BaseException)
    return out


def jsonable(v, full=False):
    """`v` as is when JSON can hold it; an exception as {'__exception__': exc_info}; else its repr."""
    if isinstance(v, BaseException):
        return {'__exception__': exc_info(v, full)}
    try:
        json.dumps(v)
        return v
    except TypeError:
        return repr(v)


def safe(v, exceptions=True):
    """`v` with dates as ISO text, tuples as lists and anything else JSON cannot hold as its repr;
    an exception as {exc_type, exc_module, args} (unless `exceptions` is False: then its repr)."""
    if exceptions and isinstance(v, BaseException):
        return {"exc_type": type(v).__name__, "exc_module": type(v).__module__, "args": [safe(a) for a in v.args]}
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): safe(x, exceptions) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [safe(x, exceptions) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)
