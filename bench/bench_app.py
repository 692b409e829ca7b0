"""A bare Celery app: the scheduler benchmark's foils, and the delivery benchmark's floor.

The foils' beat (stock django-celery-beat, RedBeat) publishes
`bench.record_fire(name)`; a worker of this app records when each fire
reached it, in a Redis list the benchmark reads. The name carries the due
time, so lag = recorded time - due time.

`bench.noop` is the floor under a delivery: a task that does nothing but
count itself, run with the service's reliability settings (acks_late).
"""

import os
import sys
import time

import redis
from celery import Celery
from celery.signals import worker_ready

app = Celery("bench")
app.conf.broker_url = os.environ["CELERY_BROKER_URL"]
app.conf.task_default_queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
app.conf.task_ignore_result = True
app.conf.worker_prefetch_multiplier = 1
app.conf.redbeat_redis_url = os.environ["CELERY_BROKER_URL"]
app.conf.redbeat_key_prefix = os.environ.get("BENCH_REDBEAT_PREFIX", "bench-redbeat")
# RedBeat's default 25-minute lock timeout is what makes its standby slow; the
# benchmark runs one beat, so it does not matter here.

@worker_ready.connect
def _say_ready(**kwargs) -> None:
    # Celery logs "ready." at INFO; the floor's worker runs at WARNING (a log
    # line per task would be cost the floor does not have), so say it here.
    print("bench worker ready", file=sys.stderr, flush=True)


FIRES_KEY = os.environ.get("BENCH_FIRES_KEY", "bench:fires")
_redis = None


@app.task(name="bench.record_fire")
def record_fire(name: str) -> None:
    global _redis
    received = time.time()
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    _redis.rpush(FIRES_KEY, f"{name}|{received}")


NOOP_KEY = os.environ.get("BENCH_NOOP_KEY", "bench:noop")


@app.task(name="bench.noop", acks_late=True, reject_on_worker_lost=True)
def noop() -> None:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    _redis.incr(NOOP_KEY)
