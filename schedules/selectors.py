import uuid

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet
from django.db.models.functions import Now

from outbound.models import Account, Group

from .models import BeatLease, Run, Schedule


def _with_detail(schedules: QuerySet[Schedule]) -> QuerySet[Schedule]:
    return schedules.select_related("session").prefetch_related(Prefetch("groups", queryset=Group.objects.only("id")))


def schedule_get(*, account: Account, schedule_id: uuid.UUID) -> Schedule | None:
    return (
        _with_detail(Schedule.objects.filter(account=account, pk=schedule_id))
        .prefetch_related(Prefetch("runs", queryset=Run.objects.order_by("occurrence_number")))
        .first()
    )


def schedule_list(*, account: Account, status: str | None = None, session_id: uuid.UUID | None = None) -> QuerySet[Schedule]:
    schedules = Schedule.objects.filter(account=account)
    if status:
        schedules = schedules.filter(status=status)
    if session_id:
        schedules = schedules.filter(session_id=session_id)
    return _with_detail(schedules)


def beat_leader() -> BeatLease | None:
    """The beat lease: who leads (holder, term), its last poll (renewed_at), until when (expires_at).

    `is_live` is judged on the database's clock, as takeovers are: False when
    the leader stopped renewing (no beat is firing unless a standby is about
    to take over). None before any beat ever ran.
    """
    return (
        BeatLease.objects.filter(name=BeatLease.BEAT)
        .annotate(is_live=ExpressionWrapper(Q(expires_at__gt=Now()), output_field=BooleanField()))
        .first()
    )
