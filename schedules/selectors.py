import uuid

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet
from django.db.models.functions import Now

from outbound.models import Account, Group

from .models import BeatLease, Run, Schedule


def _with_detail(schedules: QuerySet[Schedule]) -> QuerySet[Schedule]:
    return schedules.select_related("session").prefetch_related(Prefetch("groups", queryset=Group.objects.only("id")))


def schedule_get(*, account: Account, schedule_id: uuid.UUID) -> Schedule | None:
    # Without its runs: a schedule may have 10,000; the detail reads its latest ones.
    return _with_detail(Schedule.objects.filter(account=account, pk=schedule_id)).first()


def schedule_get_with_latest_runs(*, account: Account, schedule_id: uuid.UUID, count: int) -> Schedule | None:
    """The schedule with `latest_runs` (its last `count` runs) and `runs_total` (how many runs it has).

    The same few queries whatever the number of runs: the schedule, its
    groups, the latest runs, a count.
    """
    schedule = schedule_get(account=account, schedule_id=schedule_id)
    if schedule is not None:
        schedule.latest_runs = runs_latest(schedule=schedule, count=count)
        schedule.runs_total = schedule.runs.count()
    return schedule


def runs_latest(*, schedule: Schedule, count: int) -> list[Run]:
    """The runs of the last `count` occurrences, in occurrence order (oldest of them first).

    One indexed query: the index of run_unique_occurrence (schedule_id,
    occurrence_number) answers ORDER BY occurrence_number DESC LIMIT n with a
    backward index scan that stops after n rows (EXPLAIN on PostgreSQL: Limit
    -> Index Scan Backward using run_unique_occurrence), however many runs
    the schedule has.
    """
    latest = list(Run.objects.filter(schedule=schedule).order_by("-occurrence_number")[:count])
    latest.reverse()
    return latest


def run_list(*, schedule: Schedule, status: str | None = None) -> QuerySet[Run]:
    """Every run of a schedule (the API pages them by occurrence number, over the same index)."""
    runs = Run.objects.filter(schedule=schedule)
    if status:
        runs = runs.filter(status=status)
    return runs


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
