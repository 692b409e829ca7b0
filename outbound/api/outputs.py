"""Response serializers: one place that both renders bodies and documents them in the OpenAPI schema."""

import hashlib

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers

from outbound.models import Delivery
from outbound.timefmt import to_ms


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


def text_digest(text: str) -> dict:
    # Message text is customer content: responses describe it, never echo it.
    return {"text_sha256": hashlib.sha256(text.encode()).hexdigest(), "text_length": len(text)}


class TextDigestMixin(serializers.Serializer):
    text_sha256 = serializers.SerializerMethodField(help_text="SHA-256 of the text; the text itself is never returned.")
    text_length = serializers.SerializerMethodField(help_text="Length of the text in characters.")
    media_count = serializers.SerializerMethodField()

    def get_text_sha256(self, obj) -> str:
        return text_digest(obj.text)["text_sha256"]

    def get_text_length(self, obj) -> int:
        return len(obj.text)

    def get_media_count(self, obj) -> int:
        return len(obj.media)


class DeliveryResultOutput(serializers.Serializer):
    recipient_send_id = UUIDStringField(source="id")
    group_id = UUIDStringField()
    chat_id = serializers.CharField()
    variant_name = serializers.CharField(help_text="The A/B variant this group got; empty without variants.")
    ok = serializers.SerializerMethodField(help_text="False once the delivery failed, expired or was skipped.")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempts = serializers.IntegerField()
    unconfirmed = serializers.BooleanField(
        help_text="An attempt may have reached WhatsApp and was never confirmed: if failed or expired, it may still have been sent."
    )
    max_send_attempts = serializers.IntegerField()
    provider_message_id = serializers.CharField(allow_null=True)
    error_code = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    queued_at_ms = MillisecondsField(source="created_at")
    last_attempted_at_ms = MillisecondsField(source="last_attempted_at", allow_null=True)
    sent_at_ms = MillisecondsField(source="sent_at", allow_null=True)
    delivered_at_ms = MillisecondsField(source="delivered_at", allow_null=True)
    read_at_ms = MillisecondsField(source="read_at", allow_null=True)
    failed_at_ms = MillisecondsField(source="failed_at", allow_null=True)
    expired_at_ms = MillisecondsField(source="expired_at", allow_null=True)
    expires_at_ms = MillisecondsField(source="expires_at")

    def get_ok(self, delivery) -> bool:
        return delivery.status not in (*Delivery.UNSUCCESSFUL, Delivery.Status.SKIPPED)

    def get_error_code(self, delivery) -> str | None:
        return delivery.error_code or None

    def get_error_message(self, delivery) -> str | None:
        return delivery.error_message or None


class SendDetailOutput(TextDigestMixin):
    send_id = UUIDStringField(source="id")
    status = serializers.CharField(help_text="accepted (in progress), completed or completed_with_failures.")
    session_id = UUIDStringField()
    schedule_id = UUIDStringField(allow_null=True)
    occurrence_number = serializers.IntegerField(allow_null=True)
    created_at_ms = MillisecondsField(source="created_at")
    completed_at_ms = MillisecondsField(source="completed_at", allow_null=True)
    results = DeliveryResultOutput(source="deliveries.all", many=True)


class SessionOutput(serializers.Serializer):
    id = UUIDStringField()
    name = serializers.CharField()
    label = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    status_changed_at_ms = MillisecondsField(source="status_changed_at", allow_null=True)
    messages_per_minute = serializers.IntegerField(allow_null=True, help_text="Pacing: at most this many per minute; null: no limit.")
    send_delay_min_ms = serializers.IntegerField()
    send_delay_max_ms = serializers.IntegerField()


class GroupOutput(serializers.Serializer):
    id = UUIDStringField()
    chat_id = serializers.CharField()
    name = serializers.CharField()
    session_ids = serializers.SerializerMethodField()

    def get_session_ids(self, group) -> list[str]:
        return [str(s.id) for s in group.sessions.all()]


class ApiCredentialScheme(OpenApiAuthenticationExtension):
    """Either header alone authenticates: two security requirements, not one requiring both."""

    target_class = "outbound.api.auth.ApiCredentialAuthentication"
    name = ["bearerAuth", "apiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (wc_...), or a JWT (HS256, claims iss = API secret id and iat = now "
                "in seconds) signed with \"<secret id>||<secret key>\" and good for 5 minutes either side of iat.",
            },
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "An API token (wc_...)."},
        ]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"apiKeyAuth": []}]
