"""Serializers of a message's content and of its deliveries that other apps' APIs reuse.

A schedule carries what a send carries (text, media, variants) and shows the
deliveries of its runs: schedules' API builds on these, never on
outbound.api (the layers contract, .importlinter).
"""

import hashlib

from rest_framework import serializers

from core.addresses import public_url_validator
from core.api.fields import MillisecondsField, UUIDStringField
from core.api.strict import StrictSerializer
from outbound.limits import MAX_MEDIA, MAX_TEXT, content_limit_errors, text_rendered_length
from core.time import to_ms
from outbound.models import Delivery
from outbound.services.sending_windows import DEFERRAL_REASONS
from outbound.services.events import delivery_alternatives, delivery_content
from outbound.variants import placeholders, text_render


class MediaInput(StrictSerializer):
    url = serializers.URLField(
        max_length=2048, help_text="http(s) URL of the image on the public internet (docs/api.md, \"URLs we call\")."
    )
    mimetype = serializers.RegexField(
        r"^image/[a-z0-9.+-]+$", max_length=100, required=False, help_text="e.g. image/png; guessed as image/jpeg if omitted."
    )
    filename = serializers.CharField(max_length=255, required=False, trim_whitespace=False)

    def validate_url(self, value):
        # The gateway downloads it from inside our network: the same rule as webhook URLs (core/addresses.py).
        public_url_validator(value)
        return value


class VariantInput(StrictSerializer):
    variant_name = serializers.CharField(max_length=100, trim_whitespace=False)
    text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, trim_whitespace=False)
    media = serializers.ListField(child=MediaInput(), max_length=MAX_MEDIA, required=False)
    percent_audience = serializers.FloatField(min_value=0, max_value=100, help_text="Share of the groups, e.g. 60.")
    values = serializers.DictField(
        child=serializers.CharField(max_length=2048, allow_blank=True, trim_whitespace=False),
        required=False,
        help_text='Placeholder values for this variant\'s text, e.g. {"link1": "https://shop.example/sale"} for {{link1}}.',
    )

    def validate(self, attrs):
        if not attrs.get("text") and not attrs.get("media"):
            raise serializers.ValidationError(
                {"text": [serializers.ErrorDetail("A variant needs text or media.", code="content_required")]}
            )
        missing = sorted(placeholders(attrs.get("text", "")) - set(attrs.get("values", {})))
        if missing:
            raise serializers.ValidationError(
                {"values": [serializers.ErrorDetail(f"No value for {{{{{missing[0]}}}}}.", code="unknown_placeholder")]}
            )
        variant_limits_check(attrs)
        return attrs


def variant_limits_check(attrs: dict) -> None:
    """The variant's message as sent (placeholders filled) within the gateway's limits; else a 400 on its field."""
    errors = content_limit_errors(
        text_length=text_rendered_length(attrs.get("text", ""), attrs.get("values", {})),
        media_count=len(attrs.get("media", [])),
    )
    if errors:
        raise serializers.ValidationError(
            {e.field: [serializers.ErrorDetail(e.message, code=e.code)] for e in errors}
        )


def variants_validate(variants: list[dict]) -> list[dict]:
    """Names unique, percents summing to 100; returns them as stored (placeholders filled)."""
    names = [v["variant_name"] for v in variants]
    if len(set(names)) != len(names):
        raise serializers.ValidationError("Variant names must be unique.", code="duplicate_variant_name")
    if abs(sum(v["percent_audience"] for v in variants) - 100) > 1e-6:
        raise serializers.ValidationError("percent_audience must sum to 100.", code="percent_sum_not_100")
    return [
        {
            "variant_name": v["variant_name"],
            "text": text_render(v.get("text", ""), v.get("values", {})),
            "media": [dict(m) for m in v.get("media", [])],
            "percent_audience": v["percent_audience"],
        }
        for v in variants
    ]


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
    text_alternatives = serializers.SerializerMethodField(
        help_text="Which alternative of each {a|b} group in the text this group got, 0-based, in text order, e.g. [2, 0] "
        "for {Hi|Hello|Hey} ... {today|now}: Hey ... today. [] when the text has none. The same on every retry."
    )
    text_sha256 = serializers.SerializerMethodField(help_text="SHA-256 of the text this group got (alternatives chosen).")
    text_length = serializers.SerializerMethodField(help_text="Length of the text this group got, in characters.")
    typing_ms = serializers.IntegerField(
        allow_null=True,
        help_text="Human-like sends: how long the session showed typing before this message (drawn when its slot "
        "was reserved), e.g. 2400; null: no typing.",
    )
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
    deferred_reason = serializers.SerializerMethodField(
        help_text="While queued behind the session's quiet hours or daily cap: quiet_hours or daily_cap; else null."
    )
    not_before_at_ms = serializers.SerializerMethodField(
        help_text="While deferred: when it goes back on the queue (or expires, if that is sooner); else null."
    )

    def get_deferred_reason(self, delivery) -> str | None:
        if delivery.status == Delivery.Status.QUEUED and delivery.error_code in DEFERRAL_REASONS:
            return delivery.error_code
        return None

    def get_not_before_at_ms(self, delivery) -> int | None:
        return to_ms(delivery.next_attempt_at) if self.get_deferred_reason(delivery) else None

    def get_text_alternatives(self, delivery) -> list[int]:
        return delivery_alternatives(delivery.send, delivery)

    def get_text_sha256(self, delivery) -> str:
        return text_digest(delivery_content(delivery.send, delivery)[0])["text_sha256"]

    def get_text_length(self, delivery) -> int:
        return len(delivery_content(delivery.send, delivery)[0])

    def get_ok(self, delivery) -> bool:
        return delivery.status not in (*Delivery.UNSUCCESSFUL, Delivery.Status.SKIPPED)

    def get_error_code(self, delivery) -> str | None:
        return delivery.error_code or None

    def get_error_message(self, delivery) -> str | None:
        return delivery.error_message or None
