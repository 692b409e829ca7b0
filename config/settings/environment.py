"""Reading the environment: the parsers every settings module shares, and where the service keeps its files."""

import re
import uuid
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_RATE = re.compile(r"^(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)s?$", re.IGNORECASE)
_RATE_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "hr": "hour", "d": "day"}


def rate_setting(name: str, default: str) -> str | None:
    """A rate limit from the environment as the `limits` library reads it ("600/1 minute"); None for off."""
    text = env.str(name, default=default).strip()
    if text.lower() in ("off", "none", "0"):
        return None
    match = _RATE.match(text)
    if not match:
        raise ImproperlyConfigured(f"{name}={text!r}: use e.g. 600/minute, 600/min, 10/second or off.")
    count, multiple, unit = match.groups()
    unit = _RATE_UNITS.get(unit.lower(), unit.lower())
    return f"{count}/{multiple or 1} {unit}"


def credential_ids_setting(name: str) -> frozenset[str]:
    """A comma-separated list of credential ids (UUIDs), in canonical form; anything else fails at start."""
    ids = set()
    for item in env.list(name, default=[]):
        try:
            ids.add(str(uuid.UUID(item.strip())))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a credential id (a UUID).") from None
    return frozenset(ids)


BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Where the embedded default keeps its SQLite file, broker folders and uploads.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
