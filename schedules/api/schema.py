"""The schedules app's part of the OpenAPI schema: the `schedule` object of a send and of a schedule edit."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from .inputs import ScheduleRuleInput


class ScheduleFieldExtension(OpenApiSerializerFieldExtension):
    """ScheduleField is read as plain JSON and validated by hand; the schema shows it as the rule it must be."""

    target_class = "schedules.api.inputs.ScheduleField"

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(ScheduleRuleInput, direction).ref
