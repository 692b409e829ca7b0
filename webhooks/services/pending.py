"""At most one waiting task per account (relay) and per endpoint (dispatch).

A relay task reads all of its account's unrelayed events when it runs, and a
dispatch all of its endpoint's due messages, so a second task queued behind
the first finds nothing left to do. With delivery receipts on, a delivery
makes four events in four commits (sent, then SERVER, DEVICE and READ acks,
each its own request): the worker ran a relay and a dispatch task for each,
most of them for nothing.

A task is queued only if its key was not set (Redis SET NX); the task clears
the key as it starts, before it reads, so whatever commits after that queues
the next one. The key expires after EXPIRY_SECONDS in case its task is lost
(with Redis itself, say); the beat backstops, every 5 s, relay and dispatch
meanwhile. Without a Redis broker (the embedded default's filesystem one)
every commit queues its task, as it did before.
"""

from django.conf import settings

from core.redis_clients import broker_redis

EXPIRY_SECONDS = 10

_client = None


def _redis():
    global _client
    if _client is None:
        _client = broker_redis(socket_timeout=1, socket_connect_timeout=1)
    return _client


def _key(kind: str, key) -> str:
    # The queue's name keeps runs (and tests) that share a Redis apart.
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}:pending:{kind}:{key}"


def queue_once(task, key) -> None:
    """task.delay(key), unless a task for this key is queued and has not started yet."""
    import redis

    client = _redis()
    if client is not None:
        try:
            if not client.set(_key(task.name, key), 1, nx=True, ex=EXPIRY_SECONDS):
                return
        except redis.RedisError:
            pass  # queue it anyway: a task too many does no harm
    task.delay(str(key))


def started(task, key) -> None:
    """The task for this key runs: what commits from now on queues the next one."""
    import redis

    client = _redis()
    if client is not None:
        try:
            client.delete(_key(task.name, key))
        except redis.RedisError:
            pass  # the key expires by itself
