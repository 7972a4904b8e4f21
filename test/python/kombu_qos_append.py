"""What kombu's Redis QoS.append stores in the unacked hash for each envelope, computed by kombu itself.

Reads a JSON list of envelopes (the text LPUSHed to the queue) on stdin. For each, it runs kombu's own
`kombu.transport.redis.QoS.append` on the message kombu's `_brpop_read` would make of it (`_raw` = the
envelope as kombu's loads reads it, delivery_info from its properties), with a pipe that records the
HSET, and prints a JSON list of the stored values (base64 of the bytes redis-py would send).
"""
import base64
import contextlib
import json
import sys

from kombu.transport.redis import QoS
from kombu.utils.json import loads


class RecordingPipe:
    def __init__(self):
        self.hsets = []

    def zadd(self, *args):
        return self

    def hset(self, key, field, value):
        self.hsets.append(value)
        return self

    def execute(self):
        return []


class Message:
    def __init__(self, raw):
        self._raw = raw
        self.delivery_info = raw['properties']['delivery_info']


def main():
    out = []
    for text in json.load(sys.stdin):
        pipe = RecordingPipe()
        qos = QoS.__new__(QoS)
        qos.pipe_or_acquire = lambda: contextlib.nullcontext(pipe)
        qos.unacked_index_key = 'unacked_index'
        qos.unacked_key = 'unacked'
        qos._quick_append = lambda tag, message: None  # virtual.QoS bookkeeping, not stored
        raw = loads(text)
        QoS.append(qos, Message(raw), raw['properties']['delivery_tag'])
        value = pipe.hsets[0]
        out.append(base64.b64encode(value.encode('utf-8') if isinstance(value, str) else value).decode('ascii'))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
