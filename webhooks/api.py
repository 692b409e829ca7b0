"""/v2/webhooks: a customer's endpoints, their signing secrets, what was sent to them, replays."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.addresses import public_url_validator
from core.api.fields import MillisecondsField, UUIDStringField
from core.api.pagination import NewestFirstPagination, paginated_response
from core.api.strict import StrictSerializer
from core.errors import ApplicationError
from outbound.services.events import EventType

from .models import WebhookEndpoint, WebhookMessage
from .services.dispatch import ENDPOINT_DISABLED, message_replay
from .services.endpoints import endpoint_create, endpoint_secret_rotate, endpoint_update
from .tasks import endpoint_dispatch

EVENT_CHOICES = ("*", *EventType.ALL, ENDPOINT_DISABLED)


class EndpointInput(StrictSerializer):
    url = serializers.URLField(max_length=2048, help_text="http(s) URL on the public internet (docs/api.md, \"URLs we call\").")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, max_length=len(EVENT_CHOICES), required=False,
        help_text='Event types to receive; ["*"] (the default) for all.',
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, trim_whitespace=False)
    enabled = serializers.BooleanField(required=False)

    def validate_url(self, value):
        public_url_validator(value)
        return value


class EndpointOutput(serializers.Serializer):
    id = UUIDStringField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField(help_text="Your switch: false turns it off (messages wait until you turn it on).")
    status = serializers.ChoiceField(
        choices=WebhookEndpoint.Status.choices,
        help_text="active: it receives events; off: you turned it off (enabled=false); disabled: the system turned it off "
        "after sustained failure or a 410 (disabled_reason, disabled_at_ms). PATCH enabled=true turns it on again.",
    )
    disabled_reason = serializers.CharField(help_text="Why the system turned it off (410, failing for days or too many times in a row); empty if not.")
    disabled_at_ms = MillisecondsField(source="disabled_at", allow_null=True, help_text="When the system turned it off; null if it did not.")
    failing_since_ms = MillisecondsField(source="failing_since", allow_null=True)
    consecutive_failures = serializers.IntegerField(help_text="Failed attempts since its last success.")
    previous_secret_expires_at_ms = MillisecondsField(
        source="previous_secret_expires_at", allow_null=True, help_text="During a rotation, when the old secret stops signing."
    )
    created_at_ms = MillisecondsField(source="created_at")
    updated_at_ms = MillisecondsField(source="updated_at")


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="whsec_...: shown now only; verify signatures with it.")


class AttemptOutput(serializers.Serializer):
    attempted_at_ms = MillisecondsField(source="attempted_at")
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField()
    error = serializers.CharField()


class MessageOutput(serializers.Serializer):
    id = UUIDStringField()
    webhook_id = serializers.CharField(help_text="The webhook-id header: the same on every attempt and replay.")
    event_id = UUIDStringField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookMessage.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at_ms = MillisecondsField(source="next_attempt_at")
    last_status_code = serializers.IntegerField(allow_null=True)
    delivered_at_ms = MillisecondsField(source="delivered_at", allow_null=True)
    created_at_ms = MillisecondsField(source="created_at")
    attempt_log = AttemptOutput(many=True)


def _endpoint_or_404(request, endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(account=request.user.account, pk=endpoint_id).first()
    if endpoint is None:
        raise ApplicationError("not_found", "No such webhook endpoint.", http_status=404)
    return endpoint


class EndpointListView(APIView):
    pagination_class = NewestFirstPagination
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(operation_id="webhooks_list", summary="Your webhook endpoints", responses=EndpointOutput(many=True))
    def get(self, request):
        return paginated_response(self, WebhookEndpoint.objects.filter(account=request.user.account), EndpointOutput)

    @extend_schema(
        operation_id="webhooks_create", summary="Add an endpoint; its signing secret is shown once",
        request=EndpointInput, responses={201: EndpointWithSecretOutput},
    )
    def post(self, request):
        params = EndpointInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if "url" not in data:
            raise serializers.ValidationError({"url": [serializers.ErrorDetail("This field is required.", code="required")]})
        endpoint = endpoint_create(
            account=request.user.account, url=data["url"], events=data.get("events", ["*"]),
            description=data.get("description", ""), enabled=data.get("enabled", True),
        )
        return Response(EndpointWithSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(operation_id="webhooks_retrieve", summary="One endpoint", responses=EndpointOutput)
    def get(self, request, endpoint_id):
        return Response(EndpointOutput(_endpoint_or_404(request, endpoint_id)).data)

    @extend_schema(operation_id="webhooks_update", summary="Change url, events, description or enabled (true turns a disabled endpoint on again)", request=EndpointInput, responses=EndpointOutput)
    def patch(self, request, endpoint_id):
        endpoint = _endpoint_or_404(request, endpoint_id)
        params = EndpointInput(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        return Response(EndpointOutput(endpoint_update(endpoint=endpoint, **params.validated_data)).data)

    @extend_schema(operation_id="webhooks_destroy", summary="Remove an endpoint (nothing more is sent to it)", responses={204: None})
    def delete(self, request, endpoint_id):
        _endpoint_or_404(request, endpoint_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="A new signing secret, shown once; the old one signs too until previous_secret_expires_at",
        request=None, responses=EndpointWithSecretOutput,
    )
    def post(self, request, endpoint_id):
        endpoint = endpoint_secret_rotate(endpoint=_endpoint_or_404(request, endpoint_id))
        return Response(EndpointWithSecretOutput(endpoint).data)


class MessageListView(APIView):
    pagination_class = NewestFirstPagination

    @extend_schema(operation_id="webhooks_deliveries_list", summary="What was sent to an endpoint, with every attempt", responses=MessageOutput(many=True))
    def get(self, request, endpoint_id):
        endpoint = _endpoint_or_404(request, endpoint_id)
        return paginated_response(self, endpoint.messages.prefetch_related("attempt_log"), MessageOutput)


class MessageReplayView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(operation_id="webhooks_deliveries_replay", summary="Send a message again now (same webhook-id)", request=None, responses=MessageOutput)
    def post(self, request, endpoint_id, message_id):
        endpoint = _endpoint_or_404(request, endpoint_id)
        message = endpoint.messages.filter(pk=message_id).first()
        if message is None:
            raise ApplicationError("not_found", "No such webhook message.", http_status=404)
        message = message_replay(message=message)
        endpoint_dispatch.delay(str(endpoint.id))
        return Response(MessageOutput(message).data)
