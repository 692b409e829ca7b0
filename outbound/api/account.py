"""GET and PATCH /v2/account: the authenticated account's own settings (its quiet hours, for every session without its own).

Here in outbound, not core/api: a change must re-examine the deliveries its
sessions deferred under the old window (outbound.services.accounts), and
core may not import outbound. The checks themselves are core's
(core.quiet_hours), shared with the session's PATCH and the admin.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.api.fields import UUIDStringField
from core.api.strict import StrictSerializer
from core.zones import TimeZoneField
from outbound.services.accounts import account_quiet_hours_set

from .session_windows import LocalTimeField, QuietHoursInputMixin, quiet_hours_changes


class AccountOutput(serializers.Serializer):
    id = UUIDStringField(help_text="The account's id.")
    name = serializers.CharField(help_text="The account's name, e.g. Acme (set by operators).")
    time_zone = serializers.CharField(help_text="IANA zone of the account's quiet hours, e.g. Africa/Cairo; empty: UTC.")
    quiet_hours_start = LocalTimeField(allow_null=True, help_text="Local time quiet hours start, e.g. 22:00; null: none.")
    quiet_hours_end = LocalTimeField(allow_null=True, help_text="Local time they end, e.g. 08:00.")
    quiet_hours_days = serializers.ListField(
        child=serializers.IntegerField(), help_text="ISO weekdays (1 = Monday) a window starts on, e.g. [1, 2, 3, 4, 5]; empty: every day."
    )


class AccountSettingsInput(QuietHoursInputMixin, StrictSerializer):
    """The account's quiet hours; each session without quiet hours of its own follows them."""

    owner_context = "account"

    time_zone = TimeZoneField(
        required=False, allow_blank=True, help_text="IANA zone of the account's quiet hours, e.g. Africa/Cairo; empty: UTC."
    )
    quiet_hours_start = LocalTimeField(
        required=False, allow_null=True,
        help_text="Local time from which none of the account's sessions (without their own) sends, e.g. 22:00; null (with quiet_hours_end): none.",
    )


class AccountView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(operation_id="account_retrieve", summary="The account's own settings: its quiet hours", responses=AccountOutput)
    def get(self, request):
        return Response(AccountOutput(request.user.account).data)

    @extend_schema(
        operation_id="account_update",
        summary="Set the account's quiet hours (for each of its sessions without their own)",
        request=AccountSettingsInput,
        responses=AccountOutput,
    )
    def patch(self, request):
        account = request.user.account
        settings = AccountSettingsInput(data=request.data, context={"account": account})
        settings.is_valid(raise_exception=True)
        account = account_quiet_hours_set(account=account, **quiet_hours_changes(settings.validated_data))
        return Response(AccountOutput(account).data)
