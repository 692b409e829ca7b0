"""Time zone names: one check, against the zone database's own list, for every field that takes one.

`zoneinfo.ZoneInfo(name)` is not a validator: it opens a file under the zone
database for whatever it is given, so a folder ("America") raises
IsADirectoryError, an over-long name OSError, and a data file that is not a
zone ("zone1970.tab") ValueError. A name is valid when it is one of
`zoneinfo.available_timezones()`; nothing else reaches ZoneInfo.
"""

import functools
import zoneinfo

from django.core.exceptions import ValidationError
from rest_framework import serializers

# The longest IANA name is 32 characters (America/Argentina/ComodRivadavia); columns hold 64.
MAX_ZONE_NAME = 64


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_get(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone called `name`, or None if the zone database has no zone of that name."""
    if not isinstance(name, str) or name not in zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


def zone_name_validate(value: str) -> None:
    """Django validator for model fields (the admin's forms run it)."""
    if zone_get(value) is None:
        raise ValidationError("Unknown time zone %(value)r; use an IANA name, e.g. Africa/Cairo.", code="invalid_timezone", params={"value": value[:MAX_ZONE_NAME]})


class TimeZoneField(serializers.CharField):
    """An IANA zone name, e.g. Africa/Cairo: one of the zone database's zones (400 invalid_timezone otherwise)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_ZONE_NAME)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if zone_get(value) is None:
            raise serializers.ValidationError(
                f"Unknown time zone {value[:MAX_ZONE_NAME]!r}; use an IANA name, e.g. Africa/Cairo.", code="invalid_timezone"
            )
        return value
