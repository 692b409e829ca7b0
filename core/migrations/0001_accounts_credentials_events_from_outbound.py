"""Account, ApiToken, ApiSecret and Event move from outbound to core (issue 20): core sits below every app, and the events outbox references Account.

Their tables keep outbound's names (Meta.db_table); outbound's 0014 drops them from its state."""

import core.ids
import core.jsoncolumns
import core.scopes
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('outbound', '0013_credential_lineage_and_user_cascade'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables stay as they are (same names, same columns); only which app owns the model changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Account',
                    fields=[
                        ('id', models.UUIDField(default=core.ids.new_id, editable=False, help_text='Made by the service (time-ordered), e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.', primary_key=True, serialize=False, verbose_name='id')),
                        ('name', models.CharField(help_text='Customer name, e.g. Acme Retail.', max_length=200, verbose_name='name')),
                        ('created_at', models.DateTimeField(auto_now_add=True, help_text='When it was made, e.g. 2026-12-04 09:30 UTC.', verbose_name='created at')),
                        ('webhook_alert', models.CharField(blank=True, help_text='Set when one of its webhook endpoints was turned off for failing; clear it once the customer knows.', max_length=500, verbose_name='webhook alert')),
                    ],
                    options={
                        'verbose_name': 'account',
                        'db_table': 'outbound_account',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.UUIDField(default=core.ids.new_id, editable=False, help_text='Made by the service, e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.', primary_key=True, serialize=False, verbose_name='id')),
                        ('name', models.CharField(blank=True, help_text='What the token is for, e.g. CRM integration.', max_length=100, verbose_name='name')),
                        ('prefix', models.CharField(editable=False, help_text='First characters of the token, to recognise it without storing it, e.g. wc_3kT9.', max_length=16, verbose_name='prefix')),
                        ('token_hash', models.CharField(editable=False, help_text='SHA-256 of the token in hex (the token itself is never stored), e.g. 9f86d081884c7d65….', max_length=64, unique=True, verbose_name='token hash')),
                        ('scopes', models.JSONField(default=core.scopes.all_scopes, help_text='What it may do, e.g. ["read", "sends:write"].', verbose_name='scopes')),
                        ('created_at', models.DateTimeField(auto_now_add=True, help_text='When it was made, e.g. 2026-12-04 09:30 UTC.', verbose_name='created at')),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, help_text='The last request made with it (updated at most once a minute), e.g. 2026-12-04 09:31 UTC; empty: never used.', null=True, verbose_name='last used at')),
                        ('revoked_at', models.DateTimeField(blank=True, help_text='Set by the Revoke action: the token, and every API secret made with it, stop working at once.', null=True, verbose_name='revoked at')),
                        ('account', models.ForeignKey(help_text='The customer whose resources the token reaches, e.g. Acme Retail.', on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to='core.account', verbose_name='account')),
                        ('user', models.ForeignKey(blank=True, help_text='The user requests made with this token are attributed to; deactivating the user stops the token.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                    ],
                    options={
                        'verbose_name': 'API token',
                        'db_table': 'outbound_apitoken',
                    },
                ),
                migrations.CreateModel(
                    name='ApiSecret',
                    fields=[
                        ('id', models.UUIDField(default=core.ids.new_id, editable=False, help_text="The secret's id, the JWT's issuer (iss), e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.", primary_key=True, serialize=False, verbose_name='id')),
                        ('name', models.CharField(help_text='What it is for, e.g. CRM integration.', max_length=100, verbose_name='name')),
                        ('scopes', models.JSONField(default=core.scopes.all_scopes, help_text='What it may do, e.g. ["read", "sends:write"].', verbose_name='scopes')),
                        ('key_encrypted', models.TextField(editable=False, help_text='The key, encrypted with API_SECRETS_ENCRYPTION_KEYS (core/secretbox.py), e.g. gAAAAABm….', verbose_name='key (encrypted)')),
                        ('key_prefix', models.CharField(editable=False, help_text='First characters of the key, to recognise it, e.g. whk_3kT9.', max_length=16, verbose_name='key prefix')),
                        ('created_at', models.DateTimeField(auto_now_add=True, help_text='When it was made, e.g. 2026-12-04 09:30 UTC.', verbose_name='created at')),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, help_text='The last request signed with it (updated at most once a minute), e.g. 2026-12-04 09:31 UTC; empty: never used.', null=True, verbose_name='last used at')),
                        ('revoked_at', models.DateTimeField(blank=True, editable=False, help_text='Its JWTs are refused from then on, e.g. 2026-12-04 10:00 UTC; empty: live.', null=True, verbose_name='revoked at')),
                        ('account', models.ForeignKey(help_text='The customer whose resources its JWTs reach, e.g. Acme Retail.', on_delete=django.db.models.deletion.CASCADE, related_name='api_secrets', to='core.account', verbose_name='account')),
                        ('created_by', models.ForeignKey(blank=True, help_text='Requests signed with this secret are attributed to this user; deactivating the user stops them.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                        ('minted_by_secret', models.ForeignKey(blank=True, editable=False, help_text='The API secret whose JWT made it; revoking that secret revokes this one.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='minted_secrets', to='core.apisecret', verbose_name='made with secret')),
                        ('minted_by_token', models.ForeignKey(blank=True, editable=False, help_text='The API token whose request made it; revoking that token revokes this secret.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='minted_secrets', to='core.apitoken', verbose_name='made with token')),
                    ],
                    options={
                        'verbose_name': 'API secret',
                        'db_table': 'outbound_apisecret',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Event',
                    fields=[
                        ('id', models.UUIDField(default=core.ids.new_id, editable=False, help_text='Time-ordered; webhooks carry it as the message id, e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.', primary_key=True, serialize=False, verbose_name='id')),
                        ('type', models.CharField(help_text='e.g. message.notification.sent', max_length=64, verbose_name='type')),
                        ('data', models.JSONField(encoder=core.jsoncolumns.ColumnJSONEncoder, help_text='The record the event is about, as the webhook carries it, e.g. {"id": "…", "status": "sent", …}.', verbose_name='data')),
                        ('created_at', models.DateTimeField(auto_now_add=True, help_text='When it happened, e.g. 2026-12-04 09:30 UTC.', verbose_name='created at')),
                        ('relayed', models.BooleanField(default=False, help_text='Handed to the webhook relay (which queues it for each subscribed endpoint), or written so when the account had no webhook endpoint.', verbose_name='relayed')),
                        ('has_webhook_messages', models.BooleanField(default=False, help_text='Webhook messages were made of it and some are kept: it is purged after them, not after RETENTION_EVENTS_DAYS.', verbose_name='has webhook messages')),
                        ('account', models.ForeignKey(db_index=False, help_text='The customer the event is told to, e.g. Acme Retail.', on_delete=django.db.models.deletion.CASCADE, related_name='events', to='core.account', verbose_name='account')),
                    ],
                    options={
                        'verbose_name': 'event',
                        'db_table': 'outbound_event',
                        'indexes': [models.Index(fields=['account', '-id'], name='event_account_idx'), models.Index(condition=models.Q(('relayed', False)), fields=['account', 'id'], name='event_unrelayed_account_idx'), models.Index(condition=models.Q(('has_webhook_messages', False), ('relayed', True)), fields=['created_at'], name='event_purgeable_idx')],
                    },
                ),
            ],
        ),
    ]
