"""WebhookEndpoint.account and WebhookMessage.event point at core's Account and Event (moved from outbound; same tables)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_accounts_credentials_events_from_outbound'),
        ('webhooks', '0004_endpoint_disabled_at_and_failure_count'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables stay as they are (same names, same columns); only which app owns the model changes.
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='webhookendpoint',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to='core.account'),
                ),
                migrations.AlterField(
                    model_name='webhookmessage',
                    name='event',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.event'),
                ),
            ],
        ),
    ]
