"""Webhook signing secrets are encrypted at rest, as API secret keys are, and follow a key rotation."""

import time

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from core.services.credentials import api_secret_create
from webhooks.models import WebhookEndpoint
from webhooks.services.endpoints import endpoint_secret_rotate

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored(endpoint) -> tuple[str, str]:
    """The columns as the database holds them."""
    table = WebhookEndpoint._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret, previous_secret FROM {connection.ops.quote_name(table)} WHERE id = %s", [endpoint.pk])
        return cursor.fetchone()


def test_the_signing_secrets_are_not_stored_in_clear(endpoint, receiver):
    endpoint_secret_rotate(endpoint=endpoint)
    endpoint.refresh_from_db()
    assert endpoint.secret.startswith("whsec_") and endpoint.previous_secret.startswith("whsec_")
    secret, previous = stored(endpoint)
    assert "whsec_" not in secret and "whsec_" not in previous
    assert endpoint.secret not in secret and endpoint.previous_secret not in previous


def test_an_endpoint_without_a_previous_secret_stores_it_empty(endpoint):
    assert stored(endpoint)[1] == ""


def test_a_key_rotation_reencrypts_webhook_and_api_secrets(settings, monkeypatch, account, user, endpoint, receiver):
    from core.services import credentials
    from webhooks.services.endpoints import endpoint_create

    monkeypatch.setattr(credentials, "REENCRYPT_BATCH", 1)  # several batches
    settings.API_SECRETS_ENCRYPTION_KEYS = [OLD_KEY]
    endpoint.save()  # written with the old key
    second = endpoint_secret_rotate(endpoint=endpoint_create(account=account, url=receiver.url, events=["*"]))
    plain = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    api_secret, key = api_secret_create(account=account, name="crm", scopes=["read"], created_by=user)

    settings.API_SECRETS_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # the new key first: both still read
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == plain
    call_command("secrets_reencrypt", stdout=open("/dev/null", "w"))

    settings.API_SECRETS_ENCRYPTION_KEYS = [NEW_KEY]  # the old key dropped
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == plain
    reread = WebhookEndpoint.objects.get(pk=second.pk)
    assert (reread.secret, reread.previous_secret) == (second.secret, second.previous_secret)
    token = jwt.encode({"iss": str(api_secret.id), "iat": int(time.time())}, f"{api_secret.id}||{key}", algorithm="HS256")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/v2/sessions").status_code == 200


def test_without_the_key_it_was_written_with_a_secret_cannot_be_read(settings, endpoint):
    settings.API_SECRETS_ENCRYPTION_KEYS = [OLD_KEY]
    endpoint.save()
    settings.API_SECRETS_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(InvalidToken):
        WebhookEndpoint.objects.get(pk=endpoint.pk)


def _migrations_around_encryption() -> tuple[tuple[str, str], tuple[str, str]]:
    """(the migration before the encryption, the encryption), found by name so renumbering does not matter."""
    graph = MigrationExecutor(connection).loader.graph
    [encryption] = [key for key in graph.nodes if key[0] == "webhooks" and key[1].endswith("_webhook_secret_encrypted")]
    [before] = [parent for parent in graph.node_map[encryption].parents if parent.key[0] == "webhooks"]
    return before.key, encryption


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_secrets_and_back(account):
    before, encryption = _migrations_around_encryption()
    executor = MigrationExecutor(connection)
    latest = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "webhooks"]
    executor.migrate([before])
    try:
        old_apps = executor.loader.project_state([before]).apps
        Endpoint = old_apps.get_model("webhooks", "WebhookEndpoint")
        Endpoint.objects.create(account_id=account.pk, url="https://example.com/h", events=["*"], secret="whsec_" + "A" * 44,
                                previous_secret="whsec_" + "B" * 44)
        Endpoint.objects.create(account_id=account.pk, url="https://example.com/i", events=["*"], secret="whsec_" + "C" * 44)

        executor = MigrationExecutor(connection)
        executor.migrate([encryption])
        # Read through the models as they stand right after the encryption, not
        # today's (later migrations may add columns that do not exist yet here).
        Encrypted = executor.loader.project_state([encryption]).apps.get_model("webhooks", "WebhookEndpoint")
        rows = {e.url: e for e in Encrypted.objects.all()}
        assert rows["https://example.com/h"].secret == "whsec_" + "A" * 44
        assert rows["https://example.com/h"].previous_secret == "whsec_" + "B" * 44
        assert rows["https://example.com/i"].previous_secret == ""
        assert "whsec_" not in stored(rows["https://example.com/h"])[0]

        executor = MigrationExecutor(connection)
        executor.migrate([before])
        assert sorted(Endpoint.objects.values_list("secret", flat=True)) == ["whsec_" + "A" * 44, "whsec_" + "C" * 44]
    finally:
        MigrationExecutor(connection).migrate(latest)
