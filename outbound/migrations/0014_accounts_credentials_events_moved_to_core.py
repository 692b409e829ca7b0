"""Account, ApiToken, ApiSecret and Event now belong to core (its 0001): outbound's foreign keys point there, and outbound forgets the models.

After schedules' and webhooks' foreign keys have moved too, so no state refers to outbound's models when they go."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0005_account_and_event_moved_to_core'),
        ('schedules', '0010_account_moved_to_core'),
        ('core', '0001_accounts_credentials_events_from_outbound'),
        ('outbound', '0013_credential_lineage_and_user_cascade'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables stay as they are (same names, same columns); only which app owns the model changes.
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='idempotencykey',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='idempotency_keys', to='core.account'),
                ),
                migrations.AlterField(
                    model_name='session',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sessions', to='core.account', verbose_name='account'),
                ),
                migrations.RemoveField(
                    model_name='apitoken',
                    name='account',
                ),
                migrations.AlterField(
                    model_name='user',
                    name='account',
                    field=models.ForeignKey(blank=True, help_text='The customer this user acts for; empty for operators.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='users', to='core.account', verbose_name='account'),
                ),
                migrations.RemoveField(
                    model_name='apisecret',
                    name='account',
                ),
                migrations.AlterField(
                    model_name='group',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='groups', to='core.account', verbose_name='account'),
                ),
                migrations.AlterField(
                    model_name='mediafile',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='media_files', to='core.account'),
                ),
                migrations.AlterField(
                    model_name='send',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sends', to='core.account'),
                ),
                migrations.RemoveField(
                    model_name='apisecret',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='apisecret',
                    name='minted_by_secret',
                ),
                migrations.RemoveField(
                    model_name='apisecret',
                    name='minted_by_token',
                ),
                migrations.RemoveField(
                    model_name='apitoken',
                    name='user',
                ),
                migrations.DeleteModel(
                    name='Event',
                ),
                migrations.DeleteModel(
                    name='Account',
                ),
                migrations.DeleteModel(
                    name='ApiSecret',
                ),
                migrations.DeleteModel(
                    name='ApiToken',
                ),
            ],
        ),
    ]
