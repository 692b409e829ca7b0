"""Who is calling: an API token, or a short-lived JWT signed with an API secret.

`Authorization: Bearer <token or JWT>` or `X-Api-Key: <token or JWT>`. A
value with the shape of a JWT (three dot-separated parts; tokens have no
dots) is checked as one; anything else as an opaque token.
"""

from rest_framework import authentication, exceptions

from core.services.credentials import api_secret_authenticate_jwt, credential_mark_used
from core.services.tokens import api_token_authenticate


class Principal:
    """request.user for API calls: the credential's account, user and scopes."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, credential, *, user, kind: str):
        self.credential = credential
        self.account = credential.account
        self.user = user
        self.scopes = frozenset(credential.scopes)
        # Rate limits count per credential: "token:<id>" or "secret:<id>".
        self.credential_key = f"{kind}:{credential.pk}"

    @property
    def user_id(self):
        return self.user.pk if self.user else None


def _credential_from_headers(request) -> str:
    raw = request.headers.get("X-Api-Key", "").strip()
    if raw:
        return raw
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def is_jwt_shaped(raw: str) -> bool:
    return raw.count(".") == 2


class ApiCredentialAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = _credential_from_headers(request)
        if not raw:
            return None
        if is_jwt_shaped(raw):
            secret = api_secret_authenticate_jwt(token=raw)  # raises a 401 saying why
            principal = Principal(secret, user=secret.created_by, kind="secret")
        else:
            token = api_token_authenticate(raw=raw)
            if token is None:
                raise exceptions.AuthenticationFailed("The API token is missing, invalid or revoked.")
            principal = Principal(token, user=token.user, kind="token")
        credential_mark_used(principal.credential)
        return principal, principal.credential

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403.
        return 'Bearer realm="api"'
