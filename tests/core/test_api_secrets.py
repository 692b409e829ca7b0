"""API secrets (/v2/api-secrets) and the short-lived HS256 JWTs signed with them.

The JWTs are made the way the seed tells an integrator to (PyJWT here, any
JWT library there): claims iss = secret id, iat = now in seconds, signing
key "<id>||<key>".
"""

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from core.models import ApiSecret


@pytest.fixture
def new_secret(api):
    def create(scopes=("read", "sends:write"), name="CRM") -> dict:
        response = api.post("/v2/api-secrets", {"name": name, "scopes": list(scopes)}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return create


def signed(secret: dict, *, iat=None, key=None, algorithm="HS256", **claims) -> str:
    payload = {"iss": secret["id"], "iat": int(time.time()) if iat is None else iat, **claims}
    return jwt.encode(payload, key or f"{secret['id']}||{secret['key']}", algorithm=algorithm)


def bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def refused_with(response, code):
    assert response.status_code == 401, response.json()
    assert response.json()["error"]["code"] == code, response.json()
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_it_creates_a_secret_and_shows_its_key_only_then(api, new_secret):
    created = new_secret()
    assert created["key"].startswith("whk_") and created["key"].startswith(created["key_prefix"])
    assert created["scopes"] == ["read", "sends:write"] and created["revoked_at_ms"] is None
    listed = api.get("/v2/api-secrets").json()["results"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "key" not in listed[0]
    stored = ApiSecret.objects.get(pk=created["id"])
    assert created["key"] not in stored.key_encrypted


def test_a_jwt_signed_as_the_seed_says_authenticates(new_secret, session):
    response = bearer(signed(new_secret())).get("/v2/sessions")
    assert response.status_code == 200, response.json()
    assert [s["id"] for s in response.json()["results"]] == [str(session.id)]


def test_a_jwt_can_send(new_secret, session, make_groups, user):
    secret = new_secret()
    body = {"session_id": str(session.id), "group_ids": [str(make_groups(1)[0].id)], "idempotency_key": "jwt-1", "text": "Hi"}
    response = bearer(signed(secret)).post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    # Requests signed with a secret are attributed to the user who made it.
    from outbound.models import Send

    assert Send.objects.get().actor_user == user


@pytest.mark.parametrize(
    "age_seconds, code",
    [(301, "token_expired"), (-301, "token_not_yet_valid")],
    ids=["issued-over-5-minutes-ago", "issued-over-5-minutes-ahead"],
)
def test_a_jwt_is_good_for_5_minutes_either_side_of_iat(new_secret, age_seconds, code):
    secret = new_secret()
    now = int(time.time())
    refused_with(bearer(signed(secret, iat=now - age_seconds)).get("/v2/sessions"), code)
    edge = 299 if age_seconds > 0 else -299
    assert bearer(signed(secret, iat=now - edge)).get("/v2/sessions").status_code == 200


def test_a_jwt_stops_working_when_time_passes(new_secret, clock):
    token = signed(new_secret())
    assert bearer(token).get("/v2/sessions").status_code == 200
    clock.shift(302)
    refused_with(bearer(token).get("/v2/sessions"), "token_expired")


def test_it_refuses_a_wrong_signature(new_secret):
    secret = new_secret()
    refused_with(bearer(signed(secret, key=f"{secret['id']}||whk_wrong")).get("/v2/sessions"), "invalid_signature")
    # The key alone (without "<id>||") is not the signing key either.
    refused_with(bearer(signed(secret, key=secret["key"])).get("/v2/sessions"), "invalid_signature")


def test_it_refuses_an_unknown_secret(new_secret):
    secret = new_secret()
    refused_with(bearer(signed({**secret, "id": str(uuid.uuid4())})).get("/v2/sessions"), "unknown_secret")
    refused_with(bearer(signed({**secret, "id": "not-a-uuid"})).get("/v2/sessions"), "unknown_secret")


def test_it_refuses_a_revoked_secret(api, new_secret):
    secret = new_secret()
    token = signed(secret)
    assert bearer(token).get("/v2/sessions").status_code == 200
    revoked = api.post(f"/v2/api-secrets/{secret['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at_ms"] is not None
    refused_with(bearer(token).get("/v2/sessions"), "secret_revoked")


def _unsigned(secret: dict) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'iss': secret['id'], 'iat': int(time.time())})}."


def test_it_refuses_alg_none_and_public_key_algorithms(new_secret):
    secret = new_secret()
    refused_with(bearer(_unsigned(secret)).get("/v2/sessions"), "unsupported_algorithm")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    refused_with(bearer(signed(secret, key=pem, algorithm="RS256")).get("/v2/sessions"), "unsupported_algorithm")
    refused_with(bearer(signed(secret, algorithm="HS512")).get("/v2/sessions"), "unsupported_algorithm")


def test_it_refuses_a_jwt_without_iat_or_a_malformed_one(new_secret):
    secret = new_secret()
    no_iat = jwt.encode({"iss": secret["id"]}, f"{secret['id']}||{secret['key']}", algorithm="HS256")
    refused_with(bearer(no_iat).get("/v2/sessions"), "invalid_token")
    refused_with(bearer("not.a.jwt").get("/v2/sessions"), "invalid_token")


def test_opaque_tokens_keep_working_beside_jwts(api, new_secret):
    new_secret()
    assert api.get("/v2/sessions").status_code == 200


def test_another_accounts_secret_is_not_found(api, other_account):
    from core.services.credentials import api_secret_create

    theirs, _ = api_secret_create(account=other_account, name="theirs", scopes=["read"])
    assert api.post(f"/v2/api-secrets/{theirs.id}/revoke").status_code == 404
    assert api.get("/v2/api-secrets").json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"name": "x", "scopes": ["admin"]}, "scopes.0", "invalid_choice"),
        ({"name": "x", "scopes": []}, "scopes", "min_length"),
        ({"scopes": ["read"]}, "name", "required"),
        ({"name": "x", "scopes": ["read", "read"]}, "scopes", "duplicate_scopes"),
    ],
)
def test_it_validates_a_new_secret(api, body, field, code):
    response = api.post("/v2/api-secrets", body, format="json")
    assert response.status_code == 400
    assert code in [e["code"] for e in response.json()["error"]["details"]["fields"][field]]
    assert not ApiSecret.objects.exists()


def _signed_raw(secret: dict, claims_json: str, header_json: str = '{"alg":"HS256","typ":"JWT"}') -> str:
    """A JWT whose claims are exactly this JSON text (what a JSON encoder would not write), correctly signed."""
    import hashlib
    import hmac

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(header_json.encode())}.{part(claims_json.encode())}"
    key = f"{secret['id']}||{secret['key']}".encode()
    return f"{signing_input}.{part(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    "iat",
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "[1]", '"1700000000"', "true", "null"],
)
def test_it_refuses_an_iat_that_is_not_a_finite_number(new_secret, iat):
    secret = new_secret()
    token = _signed_raw(secret, f'{{"iss":"{secret["id"]}","iat":{iat}}}')
    refused_with(bearer(token).get("/v2/sessions"), "invalid_token")

