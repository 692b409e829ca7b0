"""GET of a schedule with 10,000 runs, and of pages of its run history, under gunicorn.

Target: a schedule with 10,000 runs answers in <= 50 ms (p99 of GET /v2/outbound/schedules/{id}).

The detail holds the latest 100 runs and a count, whatever the number of
runs; GET .../runs pages through all of them by cursor (occurrence number), so
a page deep in the history costs what the first one does. To show both, the
same requests are made for a schedule with 100 runs, and for the last page of
the 10,000-run history (reached with a cursor, as `next` would give it).

The runs are made set-based (bulk_create) and the table vacuumed and analyzed,
as autovacuum would leave it in production. Requests are sequential (one at a
time, 10 ms apart, a fresh connection each, as gunicorn's sync workers close
it): this measures one request's latency, not throughput (bin/bench api does
load).

    bin/bench history [--requests 200] [--runs 10000] [--gunicorn-workers 2]
"""

import argparse
import http.client
import json
import sys
import time
from datetime import timedelta

from bench.api import start_gunicorn
from bench.common import Processes, bench_env, database_reset, django_setup, machine, percentile, table
from bench.cpu import CpuMeter, free_port, process_tree
from bench.fixtures import bench_fixture

TARGET_MS, TARGET_RUNS = 50, 10_000
# Between two requests: the latency of one request on an otherwise idle server.
PAUSE_SECONDS = 0.01
HEADERS = ["request", "runs", "requests", "p50 ms", "p99 ms", "max ms", "gunicorn CPU ms/req", "machine busy %", "body KB",
           "errors"]


def schedule_with_runs(fixture, runs: int):
    """A finished schedule of `runs` hourly occurrences, every tenth failed, made in a few INSERTs."""
    from django.db import connection
    from django.utils import timezone

    from outbound.models import Group, Session
    from schedules.models import Run, Schedule

    session = Session.objects.get(pk=fixture.session_id)
    first = timezone.now() - timedelta(hours=runs)
    schedule = Schedule.objects.create(
        account_id=session.account_id, session=session, text="bench history",
        first_run_at=first, interval_ms=3_600_000, max_occurrences=runs, status=Schedule.Status.COMPLETED_WITH_FAILURES,
        next_occurrence=runs + 1, next_run_at=None, run_count=runs, failed_run_count=runs // 10,
        last_run_at=first + timedelta(hours=runs - 1), completed_at=timezone.now(),
    )
    schedule.groups.set(Group.objects.filter(pk__in=fixture.group_ids))
    rows = []
    for k in range(1, runs + 1):
        due = first + timedelta(hours=k - 1)
        failed = k % 10 == 0
        rows.append(Run(
            schedule=schedule, occurrence_number=k, due_at=due, started_at=due,
            status=Run.Status.FAILED if failed else Run.Status.COMPLETED,
            completed_at=None if failed else due + timedelta(seconds=3), failed_at=due + timedelta(seconds=3) if failed else None,
            error_code="session_not_working" if failed else "",
            error_message="Session history is STOPPED; it can send only when WORKING." if failed else "",
        ))
    Run.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE schedules_run")
    return schedule


def latest_runs_plan(schedule) -> str:
    """EXPLAIN ANALYZE of the detail's query for its latest runs (it should stop after 100 index entries)."""
    from schedules.models import Run

    return Run.objects.filter(schedule=schedule).order_by("-occurrence_number")[:100].explain(analyze=True)


def last_page_path(schedule, page_size: int) -> str:
    """The runs list's last page, with the cursor its `next` links would lead to."""
    from schedules.api.views import RunHistoryPagination

    path = f"/v2/outbound/schedules/{schedule.id}/runs"
    return RunHistoryPagination().url_after(f"{path}?limit={page_size}", page_size + 1)


def get(port: int, token: str, path: str) -> tuple[float, int, bytes]:
    """One GET on a fresh connection: (ms, HTTP status, body)."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return (time.perf_counter() - start) * 1000, response.status, body


def measure(port: int, token: str, gunicorn, name: str, runs: int, path: str, requests: int, check=None) -> list:
    for _ in range(10):  # warm up: every gunicorn worker loads the URLconf and opens its DB connection
        time.sleep(PAUSE_SECONDS)
        get(port, token, path)
    # The server's own CPU per request does not depend on what else the machine runs; latency does.
    meter = CpuMeter(gunicorn=lambda: process_tree(gunicorn.pid))
    ms, sizes, errors, body = [], [], 0, b""
    for _ in range(requests):
        time.sleep(PAUSE_SECONDS)
        took, status, body = get(port, token, path)
        ms.append(took)
        sizes.append(len(body))
        errors += status != 200
    cpu = meter.result()
    if check:
        check(json.loads(body))  # the answer measured is the one specified
    return [name, runs, requests, percentile(ms, 50), percentile(ms, 99), max(ms), cpu["seconds"]["gunicorn"] * 1000 / requests,
            cpu["machine busy"], max(sizes) / 1024, errors]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per row")
    parser.add_argument("--runs", type=int, default=TARGET_RUNS, help="runs of the big schedule")
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="as the Procfile's WEB_CONCURRENCY default")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    port = free_port()
    env = bench_env()
    django_setup(env)
    print(machine())
    print(f"gunicorn ({args.gunicorn_workers} sync workers), {args.requests} sequential requests per row, "
          f"{PAUSE_SECONDS * 1000:g} ms apart, a fresh connection each; PostgreSQL on the same machine.\n")
    database_reset(env)
    fixture = bench_fixture(10, name="history")
    big, small = schedule_with_runs(fixture, args.runs), schedule_with_runs(fixture, 100)
    print("The detail's latest-runs query on the big schedule (EXPLAIN ANALYZE):\n")
    print("    " + latest_runs_plan(big).replace("\n", "\n    ") + "\n")

    def detail_holds_latest(body):
        numbers = [r["occurrence_number"] for r in body["runs"]]
        assert numbers == list(range(args.runs - 99, args.runs + 1)) and body["runs_total"] == args.runs, body["runs_total"]

    rows = []
    processes = Processes()
    try:
        gunicorn = start_gunicorn(processes, env, port, args.gunicorn_workers)
        server = (port, fixture.token, gunicorn)
        detail, runs = "/v2/outbound/schedules/{}", "/v2/outbound/schedules/{}/runs?limit=100"
        print("  measuring ...", file=sys.stderr)
        rows.append(measure(*server, "GET /v2/outbound/schedules/{id}", args.runs, detail.format(big.id), args.requests,
                            check=detail_holds_latest))
        rows.append(measure(*server, "GET /v2/outbound/schedules/{id}", 100, detail.format(small.id), args.requests))
        rows.append(measure(*server, "GET .../runs?limit=100 (first page)", args.runs, runs.format(big.id), args.requests))
        rows.append(measure(*server, "GET .../runs?limit=100&cursor= (last page)", args.runs, last_page_path(big, 100),
                            args.requests))
        rows.append(measure(*server, "GET .../runs?status=failed&limit=100", args.runs,
                            runs.format(big.id) + "&status=failed", args.requests))
        rows.append(measure(*server, "GET /v2/sessions (trivial)", 0, "/v2/sessions", args.requests))
    finally:
        processes.stop_all()
    print(table(HEADERS, rows))
    print("\nLatency from connect to the last byte, one request at a time; gunicorn CPU = its workers' CPU per request"
          "\n(independent of other load on the machine, which latency is not: see machine busy, % of all cores).")
    p99 = rows[0][4]
    print(f"\nTarget: a schedule with {TARGET_RUNS:,} runs answers in <= {TARGET_MS} ms (p99 of its GET): "
          f"{'met' if p99 <= TARGET_MS and not rows[0][-1] else 'NOT met'} (p50 {rows[0][3]:.1f} ms, p99 {p99:.1f} ms).")


if __name__ == "__main__":
    main()
