"""Deactivating a user, or revoking a credential, cuts off everything that acts for them or was made with it.

A secret made through the API with a token or with another secret's JWT
records which; revoking that credential (API or admin) revokes the secret,
and what it made in turn. A deactivated user's tokens and secrets stop on
their next request, and work again if the user is reactivated.
"""

import time

import jwt
import pytest
from rest_framework.test import APIClient

from core import scopes
from core.errors import ApplicationError
from core.models import ApiSecret, ApiToken
from core.services.credentials import api_secret_create
from core.services.tokens import api_token_create, api_token_revoke
from outbound.models import User


def bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def jwt_of(secret: dict) -> str:
    return jwt.encode({"iss": secret["id"], "iat": int(time.time())}, f"{secret['id']}||{secret['key']}", algorithm="HS256")


def mint(client: APIClient, name: str) -> dict:
    response = client.post("/v2/api-secrets", {"name": name, "scopes": list(scopes.ALL)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def works(client: APIClient) -> bool:
    status = client.get("/v2/sessions").status_code
    assert status in (200, 401), status
    return status == 200


def code_of(client: APIClient) -> str:
    return client.get("/v2/sessions").json()["error"]["code"]


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


def test_a_deactivated_users_token_stops_at_once_and_comes_back_with_the_user(api, user):
    assert works(api)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert not works(api)
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert works(api)


def test_a_token_of_no_user_is_not_cut_off_by_anyones_deactivation(account, user):
    _, raw = api_token_create(account=account, user=None, name="integration")
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert works(bearer(raw))


def test_a_deactivated_users_secrets_and_what_they_made_stop(api, user):
    parent = mint(api, "parent")
    child = mint(bearer(jwt_of(parent)), "child")
    assert works(bearer(jwt_of(parent))) and works(bearer(jwt_of(child)))
    user.is_active = False
    user.save()
    assert code_of(bearer(jwt_of(parent))) == "user_inactive"
    assert code_of(bearer(jwt_of(child))) == "user_inactive"
    # A JWT minted before the deactivation is refused as well: the check is per request.
    user.is_active = True
    user.save()
    token = jwt_of(child)
    user.is_active = False
    user.save()
    assert not works(bearer(token))


def test_revoking_a_secret_through_the_api_revokes_its_children_and_grandchildren(api):
    parent = mint(api, "parent")
    child = mint(bearer(jwt_of(parent)), "child")
    grandchild = mint(bearer(jwt_of(child)), "grandchild")
    sibling = mint(api, "sibling")  # made with the token, not with parent
    assert all(works(bearer(jwt_of(s))) for s in (parent, child, grandchild, sibling))

    assert api.post(f"/v2/api-secrets/{parent['id']}/revoke").status_code == 200
    for secret in (parent, child, grandchild):
        assert code_of(bearer(jwt_of(secret))) == "secret_revoked"
    assert works(bearer(jwt_of(sibling)))
    listed = {s["id"]: s["revoked_at_ms"] for s in api.get("/v2/api-secrets").json()["results"]}
    assert listed[child["id"]] is not None and listed[grandchild["id"]] is not None and listed[sibling["id"]] is None


def test_revoking_a_secret_in_the_middle_leaves_its_parent_alone(api):
    parent = mint(api, "parent")
    child = mint(bearer(jwt_of(parent)), "child")
    grandchild = mint(bearer(jwt_of(child)), "grandchild")
    bearer(jwt_of(child)).post(f"/v2/api-secrets/{child['id']}/revoke")
    assert works(bearer(jwt_of(parent)))
    assert not works(bearer(jwt_of(child))) and not works(bearer(jwt_of(grandchild)))


def test_revoking_a_token_revokes_the_secrets_made_with_it(api, account, user):
    child = mint(api, "child")
    grandchild = mint(bearer(jwt_of(child)), "grandchild")
    api_token_revoke(token=ApiToken.objects.get())
    assert not works(api)
    assert code_of(bearer(jwt_of(child))) == "secret_revoked"
    assert code_of(bearer(jwt_of(grandchild))) == "secret_revoked"


def test_the_admins_revoke_actions_cascade(operator, api):
    by_token = mint(api, "by token")
    parent = mint(api, "parent")
    child = mint(bearer(jwt_of(parent)), "child")

    response = operator.post("/admin/core/apisecret/", {"action": "revoke", "_selected_action": [parent["id"]]})
    assert response.status_code == 302
    assert not works(bearer(jwt_of(child)))
    assert works(bearer(jwt_of(by_token)))

    response = operator.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [str(ApiToken.objects.get().pk)]})
    assert response.status_code == 302
    assert not works(api) and not works(bearer(jwt_of(by_token)))


def test_a_secret_cannot_be_made_with_a_credential_revoked_meanwhile(account, user):
    token, _ = api_token_create(account=account, user=user)
    api_token_revoke(token=token)
    with pytest.raises(ApplicationError) as refused:
        api_secret_create(account=account, name="late", scopes=["read"], created_by=user, minted_by=token)
    assert refused.value.code == "credential_revoked"
    assert not ApiSecret.objects.exists()


def test_deleting_a_user_deletes_their_credentials(api, user):
    secret = mint(api, "theirs")
    user.delete()
    assert not ApiToken.objects.exists() and not ApiSecret.objects.exists()
    assert not works(api) and not works(bearer(jwt_of(secret)))


def test_the_admin_shows_which_credential_made_a_secret(operator, api):
    parent = mint(api, "parent")
    child = mint(bearer(jwt_of(parent)), "child")
    page = operator.get(f"/admin/core/apisecret/{child['id']}/change/").content.decode()
    assert "made with secret" in page.lower() and parent["id"] in page
