import json, platform, celery, kombu, redis
print(json.dumps({"python": platform.python_version(), "celery": celery.__version__, "kombu": kombu.__version__, "redis_py": redis.__version__}))
