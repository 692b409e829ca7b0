"""Human-like sends (issue 22): typing settings per session, typing time per delivery.

Existing sessions keep sending as they did (human_like False for every row
there is now); sessions made from here on take OUTBOUND_SESSION_HUMAN_LIKE.
"""

import django.core.validators
import outbound.models.sessions
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_content_types_from_outbound'),
        ('outbound', '0017_daily_cap_quiet_hours'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='typing_ms',
            field=models.PositiveIntegerField(blank=True, help_text='Human-like sends: how long the session showed typing before this message, e.g. 2400. Empty: sent without typing.', null=True, verbose_name='typing (ms)'),
        ),
        migrations.AddField(
            model_name='delivery',
            name='typing_started_at',
            field=models.DateTimeField(blank=True, help_text='When this attempt marked the chat seen and started typing (UTC); the message goes out typing_ms later, e.g. 2026-03-01 09:30:04.', null=True, verbose_name='typing started at'),
        ),
        migrations.AddField(
            model_name='session',
            name='human_like',
            field=models.BooleanField(default=False, help_text='Off for the sessions that exist now.', verbose_name='human-like sends'),
        ),
        migrations.AlterField(
            model_name='session',
            name='human_like',
            field=models.BooleanField(default=outbound.models.sessions.default_human_like, help_text='Before each message, mark the chat seen and show typing for a while, then send, e.g. on. Typing time counts inside the pacing. Off for sessions made before this existed.', verbose_name='human-like sends'),
        ),
        migrations.AddField(
            model_name='session',
            name='typing_ms_max',
            field=models.PositiveIntegerField(default=8000, help_text='Longest typing time, however long the text, e.g. 8000 (at most 60000).', validators=[django.core.validators.MaxValueValidator(60000)], verbose_name='typing max (ms)'),
        ),
        migrations.AddField(
            model_name='session',
            name='typing_ms_min',
            field=models.PositiveIntegerField(default=1000, help_text='Shortest typing time, however short the text, e.g. 1000.', validators=[django.core.validators.MaxValueValidator(60000)], verbose_name='typing min (ms)'),
        ),
        migrations.AddField(
            model_name='session',
            name='typing_ms_per_char',
            field=models.PositiveIntegerField(default=40, help_text='How typing time grows with the text: min + this x characters, +-20% at random, kept within min..max, e.g. 40.', validators=[django.core.validators.MaxValueValidator(1000)], verbose_name='typing per character (ms)'),
        ),
        migrations.AddConstraint(
            model_name='session',
            constraint=models.CheckConstraint(condition=models.Q(('typing_ms_min__lte', models.F('typing_ms_max'))), name='session_typing_min_within_max'),
        ),
    ]
