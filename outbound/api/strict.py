"""Input serializers that refuse what they do not know.

DRF ignores unknown keys by default, so a typo in an optional field is
silently dropped: `"scheduel": {...}` would turn a scheduled send into one
that goes out at once. Every request body of a write endpoint is read with
these instead, at every level of nesting.
"""

from rest_framework import serializers

UNKNOWN_FIELD = "unknown_field"


def unknown_fields_error(names) -> serializers.ValidationError:
    return serializers.ValidationError(
        {name: [serializers.ErrorDetail("Unknown field.", code=UNKNOWN_FIELD)] for name in sorted(names)}
    )


class StrictSerializer(serializers.Serializer):
    """A serializer whose input may hold only its own (writable) fields."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = set(data) - known
            if unknown:
                raise unknown_fields_error(unknown)
        return super().to_internal_value(data)
