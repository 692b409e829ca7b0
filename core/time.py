"""The API speaks milliseconds since the epoch (`*_at_ms`); storage is aware UTC datetimes."""

from datetime import datetime, timezone


def to_ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    # Integer arithmetic on the timedelta keeps exact milliseconds for any date.
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)


def from_ms(ms: int) -> datetime:
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=millis * 1000)


def to_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
