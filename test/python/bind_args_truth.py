"""Ground truth for test/contract/bind-args.test.ts: how CPython binds a call to a signature.

Reads one JSON document on stdin, {"cases": [...]}, each case
  {"params": {"positional": [{"name", "optional"}], "varargs", "keywordOnly": [...], "varkw", "self"?},
   "funcName", "bound", "args": [...], "kwargs": {...}}
and, for each, defines the Python function with that signature (`def f(self, x, y=D, *args, k, **kw)`,
defaults a sentinel, `__qualname__` the funcName), calls it with `f(*args, **kwargs)` (bound: as a
bound method, `types.MethodType(f, object())`, which is what a bound Celery task's `run` is) and
writes one JSON document, {"python": "3.11.x", "results": [...]}, each result either
  {"error": "<TypeError message>"} or
  {"values": {param: value} (parameters given a value), "defaults": [params left to their default],
   "args": [...] (*args), "kwargs": {...} (**kwargs)}
plus "head": the TypeError message (or null) of Celery's producer-side check, `head_from_fun(f,
bound=bound)(*args, **kwargs)` (what `typing=True` runs in apply_async), when funcName is an
identifier (head_from_fun execs `def <name>(...)`), else absent.
"""
import json
import sys
import types

from celery.utils.functional import head_from_fun

DEFAULT = object()


def define(case):
    p = case['params']
    parts = []
    names = []
    if case['bound']:
        self_name = p.get('self', 'self')
        parts.append(self_name if self_name else '__self')
    for q in p['positional']:
        parts.append(q['name'] + ('=DEFAULT' if q['optional'] else ''))
        names.append(q['name'])
    if p['varargs']:
        parts.append('*' + p['varargs'])
    elif p['keywordOnly']:
        parts.append('*')
    for q in p['keywordOnly']:
        parts.append(q['name'] + ('=DEFAULT' if q['optional'] else ''))
        names.append(q['name'])
    if p['varkw']:
        parts.append('**' + p['varkw'])
    ret = '{' + ', '.join(f'{n!r}: {n}' for n in names) + '}'
    extra = (p['varargs'] or 'None') + ', ' + (p['varkw'] or 'None')
    src = f"def f({', '.join(parts)}):\n    return {ret}, {extra}\n"
    ns = {'DEFAULT': DEFAULT}
    exec(src, ns)
    f = ns['f']
    f.__qualname__ = case['funcName']
    f.__name__ = case['funcName']
    return f


def run(case):
    f = define(case)
    call = types.MethodType(f, object()) if case['bound'] else f
    args, kwargs = case['args'], case['kwargs']
    out = {}
    try:
        values, varargs, varkw = call(*args, **kwargs)
        out['values'] = {k: v for k, v in values.items() if v is not DEFAULT}
        out['defaults'] = [k for k, v in values.items() if v is DEFAULT]
        out['args'] = list(varargs) if varargs is not None else []
        out['kwargs'] = varkw if varkw is not None else {}
    except TypeError as exc:
        out['error'] = str(exc)
    if case['funcName'].isidentifier():
        head = head_from_fun(f, bound=case['bound'])
        try:
            head(*args, **kwargs)
            out['head'] = None
        except TypeError as exc:
            out['head'] = str(exc)
    return out


def main():
    doc = json.load(sys.stdin)
    results = [run(case) for case in doc['cases']]
    json.dump({'python': sys.version.split()[0], 'results': results}, sys.stdout)


if __name__ == '__main__':
    main()
