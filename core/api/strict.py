"""Input serializers that refuse what they do not know, and values of the wrong JSON type.

DRF ignores unknown keys by default, so a typo in an optional field is
silently dropped: `"scheduel": {...}` would turn a scheduled send into one
that goes out at once. It also coerces: 123 becomes the text "123", "5" the
number 5, 1 the boolean true. A body is JSON and its schema gives each field
one type, so every request body of a write endpoint is read with these
instead, at every level of nesting. (Query strings are text by nature and
keep DRF's parsing.)
"""

from rest_framework import serializers

UNKNOWN_FIELD = "unknown_field"


def unknown_fields_error(names) -> serializers.ValidationError:
    return serializers.ValidationError(
        {name: [serializers.ErrorDetail("Unknown field.", code=UNKNOWN_FIELD)] for name in sorted(names)}
    )


class UniqueListField(serializers.ListField):
    """A list whose items must not repeat (`uniqueItems` in the schema); `duplicate_code` names the error."""

    def __init__(self, *, duplicate_code: str = "duplicate_items", **kwargs):
        self.duplicate_code = duplicate_code
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(set(value)) != len(value):
            raise serializers.ValidationError(f"{self.field_name} must not repeat an item.", code=self.duplicate_code)
        return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# (field class, does the JSON value fit, what to say). The first match wins:
# subclasses (ChoiceField of strings, RegexField, URLField ...) come with their base.
_JSON_TYPES = (
    (serializers.BooleanField, lambda v: isinstance(v, bool), "Must be true or false."),
    # An int is whole as it is: float() of one past 1e308 would raise.
    (serializers.IntegerField, lambda v: _is_number(v) and (isinstance(v, int) or v.is_integer()), "Must be a whole number."),
    (serializers.FloatField, _is_number, "Must be a number."),
    (serializers.CharField, lambda v: isinstance(v, str), "Must be a string."),
    (serializers.UUIDField, lambda v: isinstance(v, str), "Must be a string (a UUID)."),
    (serializers.DateField, lambda v: isinstance(v, str), "Must be a string (YYYY-MM-DD)."),
    (serializers.TimeField, lambda v: isinstance(v, str), "Must be a string (HH:MM)."),
    (serializers.ChoiceField, lambda v: isinstance(v, str), "Must be a string."),
)


def json_type_errors(field: serializers.Field, value) -> list | dict | None:
    """Errors for a value of the wrong JSON type for `field` (None when it fits), in DRF's error shape."""
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        errors = {str(i): e for i, item in enumerate(value) if (e := json_type_errors(field.child, item))}
        return errors or None
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        errors = {key: e for key, item in value.items() if (e := json_type_errors(field.child, item))}
        return errors or None
    for kind, fits, message in _JSON_TYPES:
        if isinstance(field, kind):
            return None if fits(value) else [serializers.ErrorDetail(message, code="invalid_type")]
    return None  # serializers check themselves; JSONField takes anything


# A serializer whose input may hold only its own (writable) fields, each of its
# JSON type. (A comment, not a docstring: drf-spectacular would give it to every
# request body in the schema as their description.)
class StrictSerializer(serializers.Serializer):

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = set(data) - known
            if unknown:
                raise unknown_fields_error(unknown)
            errors = {
                name: error
                for name, value in data.items()
                if (error := json_type_errors(self.fields[name], value)) is not None
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
