"""Scheduler benchmark: N live schedules, churn, and occurrences falling due at a steady rate; or a thundering herd.

    bin/bench scheduler --schedules 100000 --churn 20 --due-rate 20 --duration 60
    bin/bench scheduler --schedules 100000 --herd 10000 --herd-jitter-ms 0,30000

For each scheduler (ours, the stock django-celery-beat DatabaseScheduler,
RedBeat) on the same workload:
- N live schedules due well after the run (a third one-shot, a third interval,
  a third calendar for ours; clocked one-offs for stock, rrule one-shots for
  RedBeat: each foil's natural representation),
- `due-rate` occurrences per second falling due during `duration` seconds,
- churn: `churn` operations per second, half creates (due 3-8 s later, so they
  must be picked up incrementally and count as due occurrences), half cancels.
It reports fire lag (fire reaching a worker minus due time) p50/p99/max,
early fires (a defect), missed and duplicate occurrences, beat peak RSS and
CPU. For ours a fire "reaching a worker" is the Run's started_at, written
after the worker claimed the occurrence; for the foils it is the moment a
worker ran the fired task.

With --herd H (ours only): on top of the N live schedules, H one-shot
schedules (one group each, unpaced session) all due in the same second,
once per --herd-jitter-ms value (each schedule then fires at its due time
plus its deterministic jitter offset). It reports how many started, missed
or started early (before the fire time, or the due time), the start lag
(Run.started_at - fire time) p50/p99/max, when the last one started
(from the due second), and how many messages reached the gateway by then
plus --herd-wait-sent seconds ("all sent by": when the last one did, if
all did).
"""

import argparse
import os
import random
from collections import Counter
import threading
import time
from datetime import datetime, timedelta, timezone as dt_timezone

from bench.common import (
    Processes, bench_env, cpu_seconds, database_reset, django_setup, machine, percentile, redis_flush_queue, rss_mb, table,
)
from bench.cpu import machine_jiffies

class Sampler(threading.Thread):
    """Peak RSS of a process, sampled every 0.2 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0.0, threading.Event()

    def run(self):
        while not self.stopped.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))


def due_times(args, start: float) -> list[float]:
    count = int(args.due_rate * args.duration)
    return [start + i / args.due_rate for i in range(count)]


def lag_row(
    name: str, expected: dict, fires: list[tuple[str, float]], beat_rss: float, beat_cpu: float, args, machine_load: tuple
) -> list:
    """One result row from the expected occurrences {key: due} and the fires [(key, at)]."""
    seen, lags, duplicates = set(), [], 0
    for key, at in fires:
        if key not in expected:
            continue
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        lags.append(at - expected[key])
    missed = len(expected) - len(seen)
    early = sum(1 for lag in lags if lag < 0)
    return [
        name, args.schedules, len(expected), len(seen), missed, duplicates, early,
        percentile(lags, 50), percentile(lags, 99), max(lags, default=float("nan")), min(lags, default=float("nan")),
        beat_rss, beat_cpu / (args.duration + args.warmup), *machine_load,
    ]


def churn_loop(args, stop: threading.Event, create, cancel, stats: dict) -> None:
    """`churn` operations per second, alternating create and cancel, at an even pace."""
    period, n = 1.0 / args.churn, 0
    next_at = time.monotonic()
    while not stop.is_set():
        (create if n % 2 == 0 else cancel)()
        n += 1
        stats["ops"] = n
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))


def measure(args, processes, beat, create, cancel, window_end: float) -> tuple[float, float, dict]:
    """Run churn and sampling until the window ends (plus settling); return (peak RSS, CPU s, stats).

    stats["machine"]: how busy the whole machine was in the window (busy %,
    steal %, 1-minute load at its end), so a reader can tell the scheduler's
    tail from the machine's.
    """
    sampler = Sampler(beat.pid)
    sampler.start()
    cpu_before = cpu_seconds(beat.pid)
    jiffies_before = machine_jiffies()
    stop, stats = threading.Event(), {"ops": 0}
    churn = threading.Thread(target=churn_loop, args=(args, stop, create, cancel, stats), daemon=True)
    churn.start()
    time.sleep(max(0.0, window_end - time.time()))
    stop.set()
    churn.join()
    cpu = cpu_seconds(beat.pid) - cpu_before
    busy, steal, total = (b - a for a, b in zip(jiffies_before, machine_jiffies()))
    stats["machine"] = (100 * busy / total, 100 * steal / total, os.getloadavg()[0])
    time.sleep(args.settle)
    sampler.stopped.set()
    return sampler.peak, cpu, stats


# ----------------------------------------------------------------------------- ours

def run_ours(args, env) -> list:
    from django.db import connection

    from bench.scheduler_data import live_schedules_insert, make_targets
    from outbound.models import Send
    from schedules.models import Run, Schedule
    from schedules.services import schedule_cancel, schedule_create

    database_reset(env)
    redis_flush_queue(env)
    targets = make_targets()
    live_schedules_insert(targets, count=args.schedules, due_stream=[])
    # The window starts once the (long) bulk setup is done.
    start = time.time() + args.warmup
    live_schedules_insert(targets, count=0, due_stream=due_times(args, start))
    analyze()
    connection.close()

    processes = Processes()
    processes.gateway(env, args.gateway_port)
    processes.worker(env, args.worker_concurrency)
    beat = processes.beat(env)

    created: dict = {}
    background = list(Schedule.objects.filter(next_run_at__gt=datetime.now(dt_timezone.utc) + timedelta(hours=1)).values_list("id", flat=True))
    random.shuffle(background)

    def create():
        first = datetime.now(dt_timezone.utc) + timedelta(seconds=random.uniform(3, 8))
        timing = {"kind": "interval", "first_run_at": first, "interval_ms": None, "max_occurrences": 1}
        schedule = schedule_create(targets=targets, text="churn", media=[], actor_user=None, timing=timing)
        created[str(schedule.id)] = first

    def cancel():
        schedule_cancel(schedule=Schedule(pk=background.pop()))

    rss, cpu, stats = measure(args, processes, beat, create, cancel, start + args.duration)
    processes.stop_all()

    # Every occurrence due in the window: the due stream and the churn's creates.
    window = (_dt(start), _dt(start + args.duration))
    expected = {
        (str(sid), 1): first.timestamp()
        for sid, first in Schedule.objects.filter(first_run_at__gte=window[0], first_run_at__lt=window[1]).values_list("id", "first_run_at")
    }
    fires = [
        ((str(sid), k), started.timestamp())
        for sid, k, started in Run.objects.values_list("schedule_id", "occurrence_number", "started_at")
    ]
    # Runs are unique per occurrence by constraint; a second Send for one would be the duplicate.
    sends = Counter(Send.objects.exclude(schedule_id=None).values_list("schedule_id", "occurrence_number"))
    fires += [((str(sid), k), float("nan")) for (sid, k), n in sends.items() for _ in range(n - 1)]
    print(f"ours: {stats['ops']} churn operations, {len(created)} created during the run")
    poll_report()
    return lag_row("ours (OutboundScheduler)", expected, fires, rss, cpu, args, stats["machine"])


def poll_report() -> None:
    """The database's size and the plan of beat's poll query, at the size just measured."""
    from django.db import connection
    from django.utils import timezone

    from schedules.beat import POLL_BATCH
    from schedules.models import Schedule

    poll = (
        Schedule.objects.filter(next_run_at__lte=timezone.now() + timedelta(seconds=2), status__in=Schedule.ACTIVE)
        .order_by("next_run_at")
        .values_list("id", "next_occurrence", "next_run_at")[:POLL_BATCH]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database())), "
                       "pg_size_pretty(pg_total_relation_size('schedules_schedule'))")
        database, schedules = cursor.fetchone()
    print(f"ours: database {database} (schedules table with its indexes {schedules})")
    print("ours: beat's poll query:\n" + poll.explain(analyze=True, buffers=True))


def analyze() -> None:
    """Refresh planner statistics after the bulk setup, as autovacuum would in a live system."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, dt_timezone.utc)


# ----------------------------------------------------------------------------- foils

def _foil_fires(env) -> list[tuple[str, float]]:
    import redis

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    fires = []
    for raw in client.lrange(env["BENCH_FIRES_KEY"], 0, -1):
        name, at = raw.decode().rsplit("|", 1)
        fires.append((name, float(at)))
    return fires


def _foil_expected(due_names: list, created: dict, window_end: float) -> dict:
    """Every occurrence due in the window: the due stream and the churn's creates."""
    return {**dict(due_names), **{name: due for name, due in created.items() if due < window_end}}


def _foil_processes(env, args):
    processes = Processes()
    processes.start(
        "bench-worker",
        ["python", "-m", "celery", "-A", "bench.bench_app", "worker", "-l", "INFO", "-c", str(args.worker_concurrency),
         "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-mingle", "--without-gossip", "--without-heartbeat"],
        env,
        ready="ready.",
    )
    return processes


def run_stock(args, env) -> list:
    from django.db import connection
    from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

    database_reset(env)
    redis_flush_queue(env)
    far = time.time() + 86400

    def insert(names):
        for chunk in range(0, len(names), 5000):
            batch = names[chunk:chunk + 5000]
            clocks = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=_dt(due)) for _, due in batch])
            PeriodicTask.objects.bulk_create([
                PeriodicTask(name=name, task="bench.record_fire", kwargs=f'{{"name": "{name}"}}', clocked=clock, one_off=True)
                for (name, _), clock in zip(batch, clocks)
            ])

    insert([(f"live:{i}", far + i) for i in range(args.schedules)])
    start = time.time() + args.warmup
    due_names = [(f"due:{i}:{due}", due) for i, due in enumerate(due_times(args, start))]
    insert(due_names)
    names = [(f"live:{i}", far + i) for i in range(args.schedules)] + due_names
    PeriodicTasks.update_changed()
    analyze()
    connection.close()

    processes = _foil_processes(env, args)
    beat = processes.beat(env, name="beat-stock", scheduler="django_celery_beat.schedulers:DatabaseScheduler")
    live = [name for name, _ in names[: args.schedules]]
    random.shuffle(live)
    created = {}

    def create():
        due = time.time() + random.uniform(3, 8)
        name = f"churn:{len(created)}:{due}"
        PeriodicTask.objects.create(
            name=name, task="bench.record_fire", kwargs=f'{{"name": "{name}"}}',
            clocked=ClockedSchedule.objects.create(clocked_time=_dt(due)), one_off=True,
        )
        created[name] = due

    def cancel():
        task = PeriodicTask.objects.get(name=live.pop())
        task.enabled = False
        task.save()

    rss, cpu, stats = measure(args, processes, beat, create, cancel, start + args.duration)
    processes.stop_all()
    return lag_row("stock DatabaseScheduler", _foil_expected(due_names, created, start + args.duration), _foil_fires(env), rss, cpu, args, stats["machine"])


def run_redbeat(args, env) -> list:
    from redbeat import RedBeatSchedulerEntry
    from redbeat.schedules import rrule

    from bench.bench_app import app

    redis_flush_queue(env)
    import redis

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    for key in client.scan_iter(f"{env['BENCH_REDBEAT_PREFIX']}*"):
        client.delete(key)
    far = time.time() + 86400

    def entry(name, due):
        return RedBeatSchedulerEntry(name, "bench.record_fire", rrule("MINUTELY", dtstart=_dt(due), count=1), kwargs={"name": name}, app=app)

    live_names = [(f"live:{i}", far + i) for i in range(args.schedules)]
    for name, due in live_names:
        entry(name, due).save()
    start = time.time() + args.warmup
    due_names = [(f"due:{i}:{due}", due) for i, due in enumerate(due_times(args, start))]
    for name, due in due_names:
        entry(name, due).save()
    names = live_names + due_names

    processes = _foil_processes(env, args)
    beat = processes.beat(env, name="beat-redbeat", scheduler="redbeat.RedBeatScheduler", app="bench.bench_app")
    live = [name for name, _ in names[: args.schedules]]
    random.shuffle(live)
    created = {}

    def create():
        due = time.time() + random.uniform(3, 8)
        name = f"churn:{len(created)}:{due}"
        entry(name, due).save()
        created[name] = due

    def cancel():
        RedBeatSchedulerEntry.from_key(f"{app.conf.redbeat_key_prefix}{live.pop()}", app=app).delete()

    rss, cpu, stats = measure(args, processes, beat, create, cancel, start + args.duration)
    processes.stop_all()
    return lag_row("RedBeat", _foil_expected(due_names, created, start + args.duration), _foil_fires(env), rss, cpu, args, stats["machine"])


# ----------------------------------------------------------------------------- the herd

def run_herd(args, env, jitter_ms: int) -> list:
    import httpx
    from django.db import connection

    from bench.scheduler_data import herd_insert, live_schedules_insert, make_targets
    from outbound.models import Delivery, Send
    from schedules.models import Run, Schedule

    database_reset(env)
    redis_flush_queue(env)
    targets = make_targets()
    live_schedules_insert(targets, count=args.schedules, due_stream=[])
    due = datetime.fromtimestamp(int(time.time() + args.warmup) + 1, dt_timezone.utc)  # a whole second, after the setup
    ids = herd_insert(targets, count=args.herd, due=due, jitter_ms=jitter_ms)
    analyze()
    fires = dict(Schedule.objects.filter(pk__in=ids).values_list("id", "next_run_at"))
    connection.close()

    # INFO: the processes are known to be up by the lines celery logs at INFO ("ready.", "beat: Starting"),
    # and the service's logging follows LOG_LEVEL.
    env = {**env, "LOG_LEVEL": "INFO"}
    processes = Processes()
    gateway = processes.gateway(env, args.gateway_port)
    for i in range(args.herd_workers):
        processes.worker(env, args.worker_concurrency, name=f"worker-{i}")
    beat = processes.beat(env)
    sampler = Sampler(beat.pid)
    sampler.start()
    cpu_before = cpu_seconds(beat.pid)
    deadline = due.timestamp() + jitter_ms / 1000 + args.herd_timeout
    herd = Schedule.objects.filter(pk__in=ids)
    while time.time() < deadline:
        time.sleep(1.0)
        if time.time() > due.timestamp() and not herd.filter(next_run_at__isnull=False).exists():
            break
    # Every run started: let their messages reach the gateway (reported, waited on --herd-wait-sent s at most).
    sent_deadline = time.time() + args.herd_wait_sent
    while time.time() < sent_deadline and Delivery.objects.filter(send__schedule_id__in=ids, status="queued").exists():
        time.sleep(1.0)
    cpu = cpu_seconds(beat.pid) - cpu_before
    sampler.stopped.set()
    received = [m["received_at_ms"] / 1000 for m in httpx.get(f"{gateway}/_fake/ledger", timeout=60).json()["messages"]]
    processes.stop_all()

    runs = {sid: (started, status, code) for sid, started, status, code in
            Run.objects.filter(schedule_id__in=ids).values_list("schedule_id", "started_at", "status", "error_code")}
    started = {sid: at for sid, (at, status, code) in runs.items() if code != "missed"}
    missed = len(ids) - len(started)
    lags = [(at - fires[sid]).total_seconds() for sid, at in started.items()]
    early = sum(1 for sid, at in started.items() if at < fires[sid] or at < due)
    duplicates = sum(n - 1 for n in Counter(Send.objects.filter(schedule_id__in=ids).values_list("schedule_id", flat=True)).values())
    last_start = max(started.values(), default=due)
    return [
        f"ours, herd, jitter {jitter_ms / 1000:g} s", args.schedules, args.herd, len(started), missed, early, duplicates,
        percentile(lags, 50), percentile(lags, 99), max(lags, default=float("nan")),
        (last_start - due).total_seconds(),
        max(received) - due.timestamp() if len(received) >= len(ids) else float("nan"), len(received),
        sampler.peak, cpu,
    ]


HERD_HEADERS = [
    "scenario", "live", "herd", "started", "missed", "early", "duplicates", "start lag p50 s", "start lag p99 s",
    "start lag max s", "all started by s", "all sent by s", "messages", "beat peak RSS MB", "beat CPU s",
]


RUNNERS = {"ours": run_ours, "stock": run_stock, "redbeat": run_redbeat}
HEADERS = [
    "scheduler", "live", "due", "fired", "missed", "duplicates", "early", "lag p50 s", "lag p99 s", "lag max s",
    "lag min s", "beat peak RSS MB", "beat CPU (cores)", "machine busy %", "steal %", "load 1 min",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=10_000, help="live schedules (default 10000)")
    parser.add_argument("--churn", type=float, default=20, help="creates + cancels per second (default 20)")
    parser.add_argument("--due-rate", type=float, default=20, help="occurrences due per second (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of measurement (default 60)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds before the first occurrence is due")
    parser.add_argument("--settle", type=float, default=15, help="seconds to wait for late fires after the window")
    parser.add_argument("--schedulers", default="ours,stock,redbeat")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--gateway-port", type=int, default=3917)
    parser.add_argument("--herd", type=int, default=0, help="the herd scenario: this many one-shots due in the same second")
    parser.add_argument("--herd-jitter-ms", default="0", help="comma-separated jitter_ms values, one herd run each (default 0)")
    parser.add_argument("--herd-workers", type=int, default=1, help="worker processes for the herd (each --worker-concurrency)")
    parser.add_argument("--herd-timeout", type=float, default=300, help="seconds after the last fire time to wait for starts")
    parser.add_argument("--herd-wait-sent", type=float, default=60, help="seconds after the starts to wait for the messages")
    args = parser.parse_args()

    env = bench_env(BENCH_FIRES_KEY=f"bench:fires:{time.time_ns()}", BENCH_REDBEAT_PREFIX=f"bench-redbeat-{time.time_ns()}:")
    env["WAHA_BASE_URL"] = f"http://127.0.0.1:{args.gateway_port}"
    django_setup(env)
    if args.herd:
        return herd_main(args, env)
    rows = []
    for name in args.schedulers.split(","):
        print(f"running {name} ...", flush=True)
        rows.append(RUNNERS[name](args, env))
    print()
    print(f"Machine: {machine()}")
    print(f"Workload: {args.schedules} live schedules, churn {args.churn:g}/s, {args.due_rate:g} due/s for {args.duration:g} s")
    print()
    print(table(HEADERS, rows))
    ours = next((r for r in rows if r[0].startswith("ours")), None)
    if ours:
        for row in rows:
            if row is not ours and row[8] == row[8] and ours[8]:
                print(f"{row[0]} / ours: lag p99 x{row[8] / ours[8]:.1f}, peak RSS x{row[11] / ours[11]:.1f}")


def herd_main(args, env) -> None:
    rows = []
    for jitter in (int(j) for j in args.herd_jitter_ms.split(",")):
        print(f"running the herd, jitter {jitter} ms ...", flush=True)
        rows.append(run_herd(args, env, jitter))
    print()
    print(f"Machine: {machine()}")
    print(
        f"Workload: {args.schedules} live schedules, {args.herd} one-shots due in the same second (one group each, unpaced); "
        f"{args.herd_workers} worker process(es) x {args.worker_concurrency}"
    )
    print()
    print(table(HERD_HEADERS, rows))


if __name__ == "__main__":
    main()
