"""The app: broker and result backend on the README test's private Redis db (README_REDIS_URL)."""
import os

from celery import Celery

url = os.environ['README_REDIS_URL']
app = Celery('proj', broker=url, backend=url, include=['proj.tasks'])
app.conf.update(task_serializer='json', accept_content=['json'], result_serializer='json')
