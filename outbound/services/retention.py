"""Purging what is kept only for a while: events, gateway event ids, and (when asked) run history.

Every purge (here, webhooks.services.retention, schedules.services.retention)
works the same way, through rows_purge: it picks at most one batch of rows
past their period, by primary key, from an index that holds (nearly) only
rows it may delete; deletes them in a short transaction of its own; and stops
after a bounded number of batches. Beat runs each purge every
RETENTION_PURGE_SECONDS. So a purge never holds locks for long, never walks
over what it keeps, and a backlog (the first run after an upgrade, beat down
for a day) drains over several runs instead of in one long transaction.

A period of 0 days keeps rows forever.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from core.models import Event
from core.time import to_ms
from outbound import sql
from outbound.models import ProviderEvent, Send

BATCH = 1000
# Batches per run: at the default run every 60 s, 20,000 rows a minute per
# table, well above what 100 deliveries a second write.
MAX_BATCHES = 20
# A send has at most 100 deliveries, deleted with it: 10 sends are at most
# 1,000 rows.
SENDS_BATCH = 10


def id_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of `moment`'s millisecond: ids made before it sort below it.

    Ids are time-ordered (core.ids), so "made before" is a range of the
    primary key index. An id is never older than the clock that made it
    (uuid7 only moves ahead), so a purge that also checks the row's own
    time never deletes early; at worst a row goes a run later.
    """
    return uuid.UUID(int=(to_ms(moment) & 0xFFFF_FFFF_FFFF) << 80)


def cutoff(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def rows_delete_without_signals(*, model: type[Model], pks: list) -> int:
    """Delete these rows of `model` without its delete signals or on_delete; how many (outbound.sql says why).

    For django-celery-beat's rows (schedules' mirrors): their signals would
    make beat reload. The caller lets go of rows pointing at these first.
    """
    return sql.rows_delete_without_signals(model, pks)


def rows_purge(
    *,
    queryset: QuerySet,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    delete: Callable[[list], object] | None = None,
) -> int:
    """Delete what `queryset` selects (ordered by an index), `batch` rows per transaction, at most `max_batches`; how many.

    Each batch locks its rows (SKIP LOCKED: a row someone holds waits for the
    next run) before `delete(pks)` runs; by default the rows are deleted
    with whatever cascades from them.
    """
    model = queryset.model
    delete = delete or (lambda pks: model.objects.filter(pk__in=pks).delete())
    deleted = 0
    for _ in range(max_batches):
        with transaction.atomic():
            pks = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch])
            if pks:
                delete(pks)
        deleted += len(pks)
        if len(pks) < batch:
            break
    return deleted


def events_purge(*, days: float | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Delete relayed events older than RETENTION_EVENTS_DAYS that no webhook message needs; how many.

    An event still waiting for the relay is never purged; one that webhook
    messages were made of stays while they do (webhooks.services.retention
    lets it go with its last one).
    """
    days = settings.RETENTION_EVENTS_DAYS if days is None else days
    if not days:
        return 0
    purgeable = Event.objects.filter(relayed=True, has_webhook_messages=False, created_at__lt=cutoff(days))
    return rows_purge(queryset=purgeable.order_by("created_at"), batch=batch, max_batches=max_batches)


def provider_events_purge(*, days: float | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Forget gateway event ids after RETENTION_PROVIDER_EVENTS_DAYS (a week): WAHA's retries are long over by then.

    Never sooner than twice WAHA_WEBHOOK_TOLERANCE_SECONDS: a body is
    accepted while its signed timestamp is within the tolerance of now, and
    it may have arrived as early as a tolerance before that timestamp. For
    that long, a second arrival must find its id and count as a duplicate.
    """
    days = settings.RETENTION_PROVIDER_EVENTS_DAYS if days is None else days
    if not days:
        return 0
    days = max(days, 2 * settings.WAHA_WEBHOOK_TOLERANCE_SECONDS / 86400)
    old = ProviderEvent.objects.filter(received_at__lt=cutoff(days)).order_by("received_at")
    return rows_purge(queryset=old, batch=batch, max_batches=max_batches)


def sends_purge(*, days: float | None = None, batch: int = SENDS_BATCH, max_batches: int = MAX_BATCHES) -> int:
    """With RETENTION_RUN_HISTORY_DAYS set: delete sends finished longer ago, with their deliveries; how many sends.

    A send whose deliveries are not all finished is kept however old. A
    schedule's run keeps its row (schedules.services.retention purges runs)
    and loses its link to the send.
    """
    days = settings.RETENTION_RUN_HISTORY_DAYS if days is None else days
    if not days:
        return 0
    moment = cutoff(days)
    finished = Send.objects.exclude(status=Send.Status.ACCEPTED).filter(id__lt=id_floor(moment), completed_at__lt=moment)
    return rows_purge(queryset=finished.order_by("id"), batch=batch, max_batches=max_batches)
