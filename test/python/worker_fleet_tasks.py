"""Python side of the mixed-fleet test: the same task name the TypeScript worker serves."""
import os

import redis
from celery import Celery

URL = os.environ["CELERIAC_BROKER_URL"]
app = Celery("worker_fleet_tasks", broker=URL, backend=URL)
app.conf.update(task_default_queue=os.environ["CELERIAC_TEST_QUEUE"], worker_hijack_root_logger=False)
_redis = redis.Redis.from_url(URL)


@app.task(name="fleet.who", bind=True)
def who(self, i):
    _redis.rpush("fleet:" + os.environ["CELERIAC_TEST_QUEUE"], self.request.id)
    return "py"
