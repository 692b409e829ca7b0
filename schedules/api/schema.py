"""The schedules app's part of the OpenAPI schema: the `schedule` object of a send and of a schedule edit."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from .inputs import ScheduleRuleInput


class ScheduleFieldExtension(OpenApiSerializerFieldExtension):
    """outbound.serializers.ScheduleField is an opaque JSON field there (outbound does not know schedules): here it is a rule."""

    target_class = "outbound.serializers.ScheduleField"

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(ScheduleRuleInput, direction).ref
