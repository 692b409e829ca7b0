"""Webhook signing secrets encrypted at rest, as API secret keys are (core.secretbox).

1. The columns become text (a Fernet token is longer than 100 characters).
2. Every stored secret is encrypted in place; backwards, decrypted (which
   needs the keys it was encrypted with, as reading it does).
3. The fields become EncryptedTextField: the same column, read and written
   through the box from now on.
"""

from django.db import migrations, models

import core.secretbox

BATCH = 500


def _each_secret_converted(apps, convert):
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    batch = []
    for endpoint in WebhookEndpoint.objects.only("pk", "secret", "previous_secret").iterator(chunk_size=BATCH):
        endpoint.secret = convert(endpoint.secret) if endpoint.secret else endpoint.secret
        endpoint.previous_secret = convert(endpoint.previous_secret) if endpoint.previous_secret else endpoint.previous_secret
        batch.append(endpoint)
        if len(batch) >= BATCH:
            WebhookEndpoint.objects.bulk_update(batch, ["secret", "previous_secret"])
            batch = []
    WebhookEndpoint.objects.bulk_update(batch, ["secret", "previous_secret"])


def secrets_encrypt(apps, schema_editor):
    _each_secret_converted(apps, core.secretbox.encrypt)


def secrets_decrypt(apps, schema_editor):
    _each_secret_converted(apps, core.secretbox.decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_endpoint_catch_up_and_retention"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint", name="secret", field=models.TextField(editable=False, verbose_name="signing secret")
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=models.TextField(blank=True, editable=False, verbose_name="previous secret"),
        ),
        migrations.RunPython(secrets_encrypt, secrets_decrypt, elidable=False),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=core.secretbox.EncryptedTextField(editable=False, verbose_name="signing secret"),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=core.secretbox.EncryptedTextField(blank=True, editable=False, verbose_name="previous secret"),
        ),
    ]
