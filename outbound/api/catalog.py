"""GET /v2/sessions and GET /v2/groups: what an account can send from and to."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.errors import ApplicationError
from outbound import selectors
from outbound.models.sessions import TYPING_MS_LIMIT, TYPING_MS_PER_CHAR_LIMIT
from outbound.services.sessions import session_deferred_release, session_pacing_set

from .outputs import GroupOutput, SessionOutput
from .session_windows import SessionWindowsInputMixin, session_windows_changes
from core.api.pagination import ByNamePagination, paginated_response
from core.api.strict import StrictSerializer


class SessionListView(APIView):
    pagination_class = ByNamePagination

    @extend_schema(operation_id="sessions_list", summary="The account's WhatsApp sessions", responses=SessionOutput(many=True))
    def get(self, request):
        return paginated_response(self, selectors.session_list(account=request.user.account), SessionOutput)


class GroupListView(APIView):
    pagination_class = ByNamePagination

    class FilterInput(serializers.Serializer):
        session_id = serializers.UUIDField(required=False, help_text="Only groups this session is in.")

    @extend_schema(
        operation_id="groups_list",
        summary="The account's WhatsApp groups",
        parameters=[FilterInput],
        responses=GroupOutput(many=True),
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        groups = selectors.group_list(account=request.user.account, **filters.validated_data)
        return paginated_response(self, groups, GroupOutput)


class SessionPacingInput(StrictSerializer):
    messages_per_minute = serializers.IntegerField(min_value=1, max_value=10_000, required=False, allow_null=True)
    send_delay_min_ms = serializers.IntegerField(min_value=0, max_value=600_000, required=False)
    send_delay_max_ms = serializers.IntegerField(min_value=0, max_value=600_000, required=False)
    human_like = serializers.BooleanField(
        required=False, help_text="Mark the chat seen and show typing before each message, e.g. true."
    )
    typing_ms_min = serializers.IntegerField(min_value=0, max_value=TYPING_MS_LIMIT, required=False)
    typing_ms_max = serializers.IntegerField(min_value=0, max_value=TYPING_MS_LIMIT, required=False)
    typing_ms_per_char = serializers.IntegerField(min_value=0, max_value=TYPING_MS_PER_CHAR_LIMIT, required=False)

    def validate(self, attrs):
        session = self.context["session"]
        for low_name, high_name in (("send_delay_min_ms", "send_delay_max_ms"), ("typing_ms_min", "typing_ms_max")):
            low = attrs.get(low_name, getattr(session, low_name))
            high = attrs.get(high_name, getattr(session, high_name))
            if low > high:
                raise serializers.ValidationError(
                    {low_name: [serializers.ErrorDetail(f"Must not exceed {high_name}.", code="min_above_max")]}
                )
        return attrs


class SessionSettingsInput(SessionWindowsInputMixin, SessionPacingInput):
    """Pacing, and the daily cap, warm-up and quiet hours (session_windows.py)."""


class SessionDetailView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(operation_id="sessions_retrieve", summary="One session: status and pacing", responses=SessionOutput)
    def get(self, request, session_id):
        return Response(SessionOutput(_session_or_404(request, session_id)).data)

    @extend_schema(
        operation_id="sessions_update",
        summary="Set a session's pacing (messages per minute, a random extra gap), human-like sends (typing time), daily cap, warm-up and quiet hours",
        request=SessionSettingsInput,
        responses=SessionOutput,
    )
    def patch(self, request, session_id):
        session = _session_or_404(request, session_id)
        pacing = SessionSettingsInput(data=request.data, context={"session": session})
        pacing.is_valid(raise_exception=True)
        windows = session_windows_changes(pacing.validated_data)
        rest = {name: value for name, value in pacing.validated_data.items() if name not in SessionWindowsInputMixin._declared_fields}
        session = session_pacing_set(session=session, **rest, **windows)
        if windows:
            session_deferred_release(session=session)  # what waits is looked at again under the new settings
        return Response(SessionOutput(session).data)


def _session_or_404(request, session_id):
    session = selectors.session_list(account=request.user.account).filter(pk=session_id).first()
    if session is None:
        raise ApplicationError("not_found", "No such session.", http_status=404)
    return session
