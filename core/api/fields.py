"""Fields every API's response serializers use: the API's time format and ids as strings, with their schema."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from core.time import to_ms


class MillisecondsField(serializers.ReadOnlyField):
    """A datetime as milliseconds since the epoch, the API's time format (`*_at_ms`).

    `allow_null=True` for a time that may not have happened yet: the schema
    says null only where the API can answer null.
    """

    def to_representation(self, value):
        return to_ms(value)


class UUIDStringField(serializers.ReadOnlyField):
    """A UUID as a string; `allow_null=True` where it may be absent."""

    def to_representation(self, value):
        return str(value) if value is not None else None


class MillisecondsFieldExtension(OpenApiSerializerFieldExtension):
    target_class = MillisecondsField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "integer", "format": "int64", **({"nullable": True} if self.target.allow_null else {})}


class UUIDStringFieldExtension(OpenApiSerializerFieldExtension):
    target_class = UUIDStringField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "format": "uuid", **({"nullable": True} if self.target.allow_null else {})}
