"""JSON for what the Python peers of the backend tests print (rpc_peer.py, backend_peer.py)."""
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
