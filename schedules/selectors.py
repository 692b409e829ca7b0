import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet
from django.db.models.functions import Now, TruncHour
from django.utils import timezone

from core.models import Account
from core.redis_clients import broker_redis
from outbound.models import Group, Session

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
        counts = schedule.runs.aggregate(
            total=Count("id"),
            missed=Count("id", filter=Q(status=Run.Status.FAILED, error_code="missed")),
            skipped=Count("id", filter=Q(status=Run.Status.SKIPPED)),
        )
        schedule.runs_total = counts["total"]
        schedule.stats = {
            "missed": counts["missed"],
            "skipped": counts["skipped"],
            "late": schedule.late_run_count,
            "late_after_ms": int(settings.SCHEDULE_LATE_AFTER_SECONDS * 1000),
        }
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
    to take over). `poll_age`, on the same clock: how long ago the last poll
    was (None if never). None before any beat ever ran.
    """
    return (
        BeatLease.objects.filter(name=BeatLease.BEAT)
        .annotate(
            is_live=ExpressionWrapper(Q(expires_at__gt=Now()), output_field=BooleanField()),
            poll_age=ExpressionWrapper(Now() - F("renewed_at"), output_field=DurationField()),
        )
        .first()
    )


# The operators' dashboard (schedules.admin.dashboard): what is about to send, what failed, what is stuck.


@dataclass(frozen=True)
class DueSchedule:
    schedule: Schedule
    due: list[datetime]  # its occurrences in the window, in order (at most DUE_OCCURRENCES_MAX)


DUE_SCHEDULES_MAX = 100
DUE_OCCURRENCES_MAX = 1000


def occurrences_due_within(*, window: timedelta, now: datetime | None = None) -> tuple[list[DueSchedule], int]:
    """Schedules with an occurrence due before now + window, soonest first (at most 100), and how many there are.

    Overdue ones (due but not fired yet: beat is behind or down) come first.
    One indexed query (the partial index on next_run_at that beat polls
    with) and a count; each schedule's further occurrences in the window
    come from its rule, as beat will fire them.
    """
    now = now or timezone.now()
    end = now + window
    due = Schedule.objects.filter(next_run_at__isnull=False, next_run_at__lte=end, status__in=Schedule.ACTIVE)
    listed = []
    for schedule in due.select_related("session", "account").order_by("next_run_at")[:DUE_SCHEDULES_MAX]:
        rule, k, at, times = schedule.rule, schedule.next_occurrence, schedule.next_run_at, []
        while at is not None and at <= end and len(times) < DUE_OCCURRENCES_MAX:
            times.append(at)
            k, at = k + 1, rule.next_due(k + 1, at)
        listed.append(DueSchedule(schedule, times))
    return listed, due.count()


@dataclass(frozen=True)
class FailedRuns:
    latest: list[Run]  # newest first, at most FAILED_RUNS_MAX, with their schedules
    total: int
    by_code: list[tuple[str, int]]  # most frequent first
    by_hour: dict[datetime, int]  # failed runs per hour of the current (operator's) time zone -> count


FAILED_RUNS_MAX = 50


def runs_failed_since(*, since: datetime) -> FailedRuns:
    """Runs that failed (missed ones included: error_code "missed") since `since`.

    No index serves failed_at: each query reads the runs table (a few
    queries per dashboard view; see docs/operations.md).
    """

    failed = Run.objects.filter(status=Run.Status.FAILED, failed_at__gte=since)
    latest = list(failed.select_related("schedule").order_by("-failed_at")[:FAILED_RUNS_MAX])
    by_code = [
        (row["error_code"] or "unknown", row["n"])
        for row in failed.values("error_code").annotate(n=Count("id")).order_by("-n", "error_code")
    ]
    by_hour = {
        row["hour"]: row["n"]
        for row in failed.annotate(hour=TruncHour("failed_at")).values("hour").annotate(n=Count("id")).order_by("hour")
    }
    return FailedRuns(latest, sum(n for _, n in by_code), by_code, by_hour)


def sessions_unhealthy() -> QuerySet[Session]:
    """Sessions judged unhealthy (outbound.services.session_health), longest first, each with
    `paused_schedules`: how many of its schedules that pause still holds."""
    return (
        Session.objects.filter(unhealthy_since__isnull=False)
        .select_related("account")
        .annotate(paused_schedules=Count("schedules", filter=Q(
            schedules__status=Schedule.Status.PAUSED, schedules__pause_source="session_unhealthy")))
        .order_by("unhealthy_since", "name")
    )


def sessions_not_working() -> QuerySet[Session]:
    """Sessions whose last status is not WORKING (their deliveries are held), sending ones first,
    each with `active_schedules`: how many of its schedules are waiting to fire."""
    return (
        Session.objects.exclude(status=Session.Status.WORKING)
        .select_related("account")
        .annotate(active_schedules=Count("schedules", filter=Q(schedules__status__in=Schedule.ACTIVE)))
        .order_by("-role", "name")  # "sending" sorts after "receiving": descending puts it first
    )


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    depth: int | None  # None: not measurable (a broker other than Redis, or Redis did not answer)
    note: str = ""


def _filesystem_queue_depths(queues: list[str]) -> list[QueueDepth]:
    """The embedded default's filesystem broker: one file per waiting message, named `<time>_<uuid>.<queue>.msg`.

    Counted as kombu's own size() does (a file a worker has taken is moved or
    deleted, so it is not counted).
    """
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
    try:
        names = os.listdir(folder)
    except OSError as error:
        return [QueueDepth(queue, None, f"broker folder unreadable ({error.__class__.__name__})") for queue in queues]
    return [QueueDepth(queue, sum(1 for name in names if name.endswith(f".{queue}.msg"))) for queue in queues]


def queue_depths() -> list[QueueDepth]:
    """Messages waiting in the Celery queues (fires, then deliveries and the rest).

    On Redis, kombu keeps a queue as one Redis list per priority step, so the
    depth is the sum of their LLENs, as kombu's own size does. On the
    filesystem broker of the embedded default, the files waiting in its folder.
    """
    queues = [settings.CELERY_SCHEDULE_FIRE_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE]
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return _filesystem_queue_depths(queues)
    # Short timeouts: a dashboard must load even when Redis does not answer.
    client = broker_redis(socket_timeout=1, socket_connect_timeout=1)
    if client is None:
        scheme = settings.CELERY_BROKER_URL.split(":", 1)[0] or "unknown"
        return [QueueDepth(queue, None, f"n/a ({scheme} broker)") for queue in queues]
    import redis
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    try:
        with client.pipeline() as pipe:
            for queue in queues:
                for step in PRIORITY_STEPS:
                    pipe.llen(f"{queue}{Channel.sep}{step}" if step else queue)
            sizes = pipe.execute()
    except redis.RedisError as error:
        return [QueueDepth(queue, None, f"Redis did not answer ({error.__class__.__name__})") for queue in queues]
    per_queue = len(PRIORITY_STEPS)
    return [QueueDepth(queue, sum(sizes[i * per_queue:(i + 1) * per_queue])) for i, queue in enumerate(queues)]
