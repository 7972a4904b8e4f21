"""The tasks the result-backend interop tests share (backend_tasks.py on Redis, rpc_tasks.py on rpc://).

Each module keeps its own CustomError (TypeScript checks exc_module) and task-name prefix.
"""
import time


def register(app, prefix, CustomError, progress_delay, retry_countdown):  # noqa: N803
    """add, fail (CustomError(msg, code)), progress (n PROGRESS states), retry_once (one RETRY), sleep.

    The parameter is named as the class so tracebacks read `raise CustomError(msg, code)`, as the tests expect.
    """

    @app.task(name=f'{prefix}.add')
    def add(x, y):
        return x + y

    @app.task(name=f'{prefix}.fail')
    def fail(msg, code):
        raise CustomError(msg, code)

    @app.task(name=f'{prefix}.progress', bind=True)
    def progress(self, n, delay=progress_delay):
        for i in range(1, n + 1):
            self.update_state(state='PROGRESS', meta={'current': i, 'total': n})
            time.sleep(delay)
        return {'done': n}

    @app.task(name=f'{prefix}.retry_once', bind=True, max_retries=3)
    def retry_once(self, value):
        if self.request.retries == 0:
            raise self.retry(exc=CustomError('first attempt', value), countdown=retry_countdown)
        return value * 2

    @app.task(name=f'{prefix}.sleep')
    def sleep(seconds):
        time.sleep(seconds)
        return seconds

    return add, fail, progress, retry_once, sleep
