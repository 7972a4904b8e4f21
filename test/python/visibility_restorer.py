"""kombu's own visibility restore, run on a short cadence against a Redis db that TypeScript workers use.

Reads one JSON object on stdin:
  {"redis_url": "redis://127.0.0.1:16380/0", "transport_options": {"visibility_timeout": 3},
   "seconds": 10, "every": 0.25}
and for `seconds` calls kombu's real `QoS.restore_visible` (kombu/transport/redis.py) every `every`
seconds, with interval=1 so that every call scans (a Celery worker calls it every 10 s and scans on every
10th call, and once when it starts consuming). Before each call it lists the tags that call may take
(score <= now - visibility_timeout, as restore_visible computes it).

Prints one JSON line: {"calls": n, "eligible": [tags a scan found old enough, in order, deduplicated],
"restored": [tags a call found eligible and that were afterwards gone from unacked_index or scored
after that call's ceiling, i.e. restored (and perhaps taken again by a worker)]}.
"""
import json
import sys
import time

from kombu import Connection


def main():
    spec = json.load(sys.stdin)
    conn = Connection(spec["redis_url"], transport_options=spec.get("transport_options", {}))
    channel = conn.default_channel
    client = channel.client
    qos = channel.qos
    end = time.monotonic() + float(spec.get("seconds", 10))
    every = float(spec.get("every", 0.25))
    calls = 0
    eligible, restored = [], []
    while time.monotonic() < end:
        ceil = time.time() - qos.visibility_timeout
        seen = [t.decode() for t in client.zrevrangebyscore(channel.unacked_index_key, ceil, 0)]
        qos.restore_visible(num=channel.unacked_restore_limit, interval=1)
        calls += 1
        for tag in seen:
            if tag not in eligible:
                eligible.append(tag)
            # gone from the index, or back with a newer score (a worker took it again from the queue)
            score = client.zscore(channel.unacked_index_key, tag)
            if tag not in restored and (score is None or score > ceil):
                restored.append(tag)
        time.sleep(every)
    print(json.dumps({"calls": calls, "eligible": eligible, "restored": restored}))
    sys.stdout.flush()
    conn.release()


if __name__ == "__main__":
    main()
