"""/v2/api-secrets: the account's API secrets, for short-lived JWTs (seeds/heymarket-get-schedule.txt)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.api.fields import MillisecondsField, UUIDStringField
from core.api.pagination import NewestFirstPagination, paginated_response
from core.api.strict import StrictSerializer, UniqueListField
from core.errors import ApplicationError
from core.models import ApiSecret
from core.services.credentials import api_secret_create, api_secret_revoke


class ApiSecretInput(StrictSerializer):
    name = serializers.CharField(
        min_length=1, max_length=100, trim_whitespace=False, help_text="What it is for, e.g. CRM integration."
    )
    scopes = UniqueListField(
        child=serializers.ChoiceField(choices=scopes.ALL),
        min_length=1,
        max_length=len(scopes.ALL),
        duplicate_code="duplicate_scopes",
        help_text='What its JWTs may do, e.g. ["read", "sends:write"]; at most the scopes of the caller.',
    )


class ApiSecretOutput(serializers.Serializer):
    id = UUIDStringField(help_text="The secret id: the JWT's iss, and the first half of its signing key.")
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=scopes.ALL))
    key_prefix = serializers.CharField(help_text="First characters of the key, e.g. whk_3kT9.")
    created_at_ms = MillisecondsField(source="created_at")
    last_used_at_ms = MillisecondsField(source="last_used_at", allow_null=True)
    revoked_at_ms = MillisecondsField(source="revoked_at", allow_null=True)


class ApiSecretWithKeyOutput(ApiSecretOutput):
    key = serializers.CharField(
        help_text="whk_...: shown now only. Sign JWTs with HS256 and the key \"<id>||<key>\"."
    )


def _secret_or_404(request, secret_id) -> ApiSecret:
    secret = ApiSecret.objects.filter(account=request.user.account, pk=secret_id).first()
    if secret is None:
        raise ApplicationError("not_found", "No such API secret.", http_status=404)
    return secret


class ApiSecretListView(APIView):
    write_scope = scopes.SETTINGS_WRITE
    pagination_class = NewestFirstPagination

    @extend_schema(operation_id="api_secrets_list", summary="Your API secrets (never their keys)", responses=ApiSecretOutput(many=True))
    def get(self, request):
        return paginated_response(self, ApiSecret.objects.filter(account=request.user.account), ApiSecretOutput)

    @extend_schema(
        operation_id="api_secrets_create",
        summary="A new API secret; its key is shown once",
        request=ApiSecretInput,
        responses={201: ApiSecretWithKeyOutput},
    )
    def post(self, request):
        params = ApiSecretInput(data=request.data)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data["scopes"]
        beyond = sorted(set(wanted) - request.user.scopes)
        if beyond:
            # A credential must not mint one stronger than itself.
            raise ApplicationError(
                "insufficient_scope",
                f"This credential cannot grant scopes it does not hold: {', '.join(beyond)}.",
                details={"required_scope": beyond[0], "granted_scopes": sorted(request.user.scopes)},
                http_status=403,
            )
        secret, key = api_secret_create(
            account=request.user.account,
            name=params.validated_data["name"],
            scopes=wanted,
            created_by=request.user.user,
            # Revoking the credential this request came with revokes the new secret too.
            minted_by=request.user.credential,
        )
        return Response({**ApiSecretOutput(secret).data, "key": key}, status=status.HTTP_201_CREATED)


class ApiSecretRevokeView(APIView):
    write_scope = scopes.SETTINGS_WRITE

    @extend_schema(
        operation_id="api_secrets_revoke",
        summary="Revoke: JWTs signed with it, and with every secret made with it, are refused from now on (secret_revoked)",
        request=None,
        responses=ApiSecretOutput,
    )
    def post(self, request, secret_id):
        return Response(ApiSecretOutput(api_secret_revoke(secret=_secret_or_404(request, secret_id))).data)
