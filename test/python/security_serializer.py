"""Celery's SecureSerializer (the `auth` serializer) on JSON ops from stdin, for the security tests.

Input: {"key": path, "cert": path, "store": path, "digest": "sha256", "ops": [
  {"op": "sign", "value": ...}            -> {"body": <the auth body, text>}
  {"op": "verify", "body": <text>}        -> {"value": ...} or {"error": "SecurityError(...)"}
]}
Output: one JSON list of results.
"""
import json
import sys

from celery.exceptions import SecurityError
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer

doc = json.load(sys.stdin)
s = SecureSerializer(PrivateKey(open(doc['key']).read()), Certificate(open(doc['cert']).read()),
                     FSCertStore(doc['store']), doc.get('digest', 'sha256'), doc.get('serializer', 'json'))
out = []
for op in doc['ops']:
    if op['op'] == 'sign':
        out.append({'body': s.serialize(op['value'])})
    else:
        try:
            out.append({'value': s.deserialize(op['body'])})
        except SecurityError as exc:
            out.append({'error': repr(exc)})
print(json.dumps(out))
