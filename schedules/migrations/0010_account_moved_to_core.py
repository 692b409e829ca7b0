"""Schedule.account points at core's Account (moved from outbound; same table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_accounts_credentials_events_from_outbound'),
        ('schedules', '0009_zone_names_validated'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables stay as they are (same names, same columns); only which app owns the model changes.
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='schedule',
                    name='account',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='schedules', to='core.account'),
                ),
            ],
        ),
    ]
