"""A redis-py client of the Celery broker's Redis, for what reads it besides Celery (queue depths, pending marks).

CELERY_BROKER_URL names either one Redis (redis://) or the Sentinels that know
which Redis is the primary now (kombu's form: sentinel://h1:26379;sentinel://h2:26379,
with CELERY_BROKER_MASTER_NAME). For the second, redis-py's own Sentinel
client finds the primary and finds it again after a failover.
"""

from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from redis.sentinel import Sentinel


def broker_redis(**options) -> redis.Redis | None:
    """A client of the broker's Redis (its primary, through Sentinel); None when the broker is not Redis."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return redis.Redis.from_url(url, **options)
    if url.startswith("sentinel://"):
        return sentinel_primary(url, settings.CELERY_BROKER_TRANSPORT_OPTIONS["master_name"], **options)
    return None


def sentinel_primary(url: str, master_name: str, **options) -> redis.Redis:
    """The primary named master_name, as the Sentinels in kombu's sentinel:// url know it."""
    addresses = sentinel_addresses(url)
    first = addresses[0]  # kombu reads the password and the database from the first address, as here
    if first.password:
        options.setdefault("password", unquote(first.password))
    database = first.path.strip("/")
    if database:
        options.setdefault("db", int(database))
    timeouts = {name: options[name] for name in ("socket_timeout", "socket_connect_timeout") if name in options}
    sentinel = Sentinel([(address.hostname, address.port or 26379) for address in addresses], **timeouts)
    return sentinel.master_for(master_name, **options)


def sentinel_addresses(url: str) -> list:
    """The Sentinels of kombu's sentinel://h1:26379;sentinel://h2:26379 form, each parsed (urllib's SplitResult)."""
    return [urlsplit(part.strip()) for part in url.split(";") if part.strip()]


def limits_storage_url(broker_url: str, master_name: str | None) -> str:
    """The `limits` library's storage for the API's rate limits, on the broker's Redis when there is one."""
    if broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    if broker_url.startswith("sentinel://") and master_name:
        addresses = sentinel_addresses(broker_url)
        hosts = ",".join(f"{address.hostname}:{address.port or 26379}" for address in addresses)
        return f"redis+sentinel://{hosts}/{master_name}"
    return "memory://"
