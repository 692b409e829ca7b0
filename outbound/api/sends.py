"""GET /v2/outbound/sends/{send_id}, and the message-content inputs every send body shares.

POST /v2/outbound/sends, which can also become a schedule, is the `sending`
app's (sending/api.py): it sits above outbound and schedules. MediaInput,
VariantInput and variants_validate are used by it and by schedules' bodies.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.addresses import public_url_validator
from outbound import selectors
from outbound.errors import OutboundError
from outbound.limits import MAX_MEDIA, MAX_TEXT, content_limit_errors, text_rendered_length
from outbound.variants import placeholders, text_render

from .outputs import SendDetailOutput
from .strict import StrictSerializer


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


class SendDetailView(APIView):
    @extend_schema(
        operation_id="outbound_sends_retrieve",
        summary="An outbound send with its per-group results",
        responses=SendDetailOutput,
    )
    def get(self, request, send_id):
        send = selectors.send_get(account=request.user.account, send_id=send_id)
        if send is None:
            raise OutboundError("not_found", "No such send.", http_status=404)
        return Response(SendDetailOutput(send).data)
