from rest_framework import authentication, exceptions

from outbound.services.tokens import api_token_authenticate


class TokenPrincipal:
    """request.user for API calls: the token's account and (optional) user."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token):
        self.token = token
        self.account = token.account
        self.user = token.user

    @property
    def user_id(self):
        return self.token.user_id


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` or `X-Api-Key: <token>`."""

    def authenticate(self, request):
        raw = request.headers.get("X-Api-Key", "").strip()
        if not raw:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            raw = value.strip()
        if not raw:
            return None
        token = api_token_authenticate(raw=raw)
        if token is None:
            raise exceptions.AuthenticationFailed("The API token is missing, invalid or revoked.")
        return TokenPrincipal(token), token

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403.
        return 'Bearer realm="api"'
