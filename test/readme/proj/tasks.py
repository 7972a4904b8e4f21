"""The tasks the README's snippets call on Python workers: proj.tasks.add and proj.tasks.report(day=...)."""
from .celery import app


@app.task
def add(x, y):
    return x + y


@app.task
def report(day):
    return f'report for {day}'
