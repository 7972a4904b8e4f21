"""The Python side of the README's fleet, as `celery -A proj worker` finds it (proj.app, from proj/celery.py).

test/readme/readme.test.ts starts `celery -A proj worker -Q python,reports` with this directory's parent
as the working directory and README_REDIS_URL naming its private Redis db.
"""
from .celery import app

__all__ = ('app',)
