"""Response serializers: one place that both renders bodies and documents them in the OpenAPI schema."""

from rest_framework import serializers

from core.api.fields import MillisecondsField, UUIDStringField
from outbound.serializers import DeliveryResultOutput, TextDigestMixin

from .session_windows import SessionWindowsOutputMixin


class SendDetailOutput(TextDigestMixin):
    send_id = UUIDStringField(source="id")
    status = serializers.CharField(help_text="accepted (in progress), completed or completed_with_failures.")
    session_id = UUIDStringField()
    schedule_id = UUIDStringField(allow_null=True)
    occurrence_number = serializers.IntegerField(allow_null=True)
    created_at_ms = MillisecondsField(source="created_at")
    completed_at_ms = MillisecondsField(source="completed_at", allow_null=True)
    results = DeliveryResultOutput(source="deliveries.all", many=True)


class SessionOutput(SessionWindowsOutputMixin):
    id = UUIDStringField()
    name = serializers.CharField()
    label = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    status_changed_at_ms = MillisecondsField(source="status_changed_at", allow_null=True)
    unhealthy_since_ms = MillisecondsField(
        source="unhealthy_since", allow_null=True,
        help_text="When the service judged it unhealthy and paused its schedules (session.unhealthy); null: healthy.",
    )
    unhealthy_reason = serializers.CharField(help_text='Why, e.g. "STOPPED since ... (over 600 s)"; "" when healthy.')
    messages_per_minute = serializers.IntegerField(allow_null=True, help_text="Pacing: at most this many per minute; null: no limit.")
    send_delay_min_ms = serializers.IntegerField()
    send_delay_max_ms = serializers.IntegerField()
    human_like = serializers.BooleanField(help_text="Marks the chat seen and shows typing before each message.")
    typing_ms_min = serializers.IntegerField(help_text="Shortest typing time, e.g. 1000.")
    typing_ms_max = serializers.IntegerField(help_text="Longest typing time, e.g. 8000.")
    typing_ms_per_char = serializers.IntegerField(help_text="Typing time per character of the text, e.g. 40.")


class GroupOutput(serializers.Serializer):
    id = UUIDStringField()
    chat_id = serializers.CharField()
    name = serializers.CharField()
    session_ids = serializers.SerializerMethodField()

    def get_session_ids(self, group) -> list[str]:
        return [str(s.id) for s in group.sessions.all()]
