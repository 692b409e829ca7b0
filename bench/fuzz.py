"""Fuzz the running API over its own served schema with schemathesis, every check on.

The schema (/v2/schema) is the contract clients are generated from: every
answer must be one it lists, in the shape it gives, and every request it
allows must be handled as documented. This starts the web process as
deployed (gunicorn, production settings but plain HTTP), on a fresh database
with one account (a WORKING session in three groups, a full-scope token) and
a second account whose ids the fuzzer may stumble on, then runs
`schemathesis run` with schemathesis.toml (repo root: what each check
expects where our documented answer differs from its default).

    bin/fuzz [--max-examples 50 | --max-time 60] [--seed 1] [--workers 1]   # exit status: schemathesis's

A run is bounded by cases (--max-examples per operation and phase) or by
seconds (--max-time). The test suite bounds it by cases with a fixed seed and
no example database (tests/e2e/test_schema_fuzz_e2e.py), so it explores the
same cases on any machine, however fast; run it longer before changing the
API (`bin/fuzz --max-examples 400`).

The service runs with its production rate limits, and the fuzzer's token is
exempt from them (API_RATE_LIMIT_EXEMPT_CREDENTIALS): every answer comes from
the logic under test, not from the limiter. At the end it prints the run's
figures: cases, failures, server errors (5xx answers in the web log) and
duration.
"""

import argparse
import json
import re
import subprocess
import sys
import time
import uuid

from bench.common import LOG_DIR, ROOT, Processes, bench_env, database_reset, django_setup
from bench.cpu import free_port
from bench.fixtures import bench_fixture


def seed_accounts() -> dict:
    """The fuzzer's account with one of everything its paths name, and another account.

    The ids go into schemathesis.toml's dictionaries, so requests reach a real
    schedule, run, send, webhook endpoint and API secret, not only 404s.
    The other account's ids are there too: they must answer like missing ones.
    """
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Account, ApiToken
    from core.services.credentials import api_secret_create
    from outbound.services.sends import send_create, send_targets_resolve
    from schedules.rules import MAX_OCCURRENCES
    from schedules.services import schedule_create
    from webhooks.models import WebhookEndpoint

    mine = bench_fixture(groups=3, name="fuzz")
    theirs = bench_fixture(groups=2, name="fuzz-other")
    ids = {"session_ids": [mine.session_id, theirs.session_id], "group_ids": mine.group_ids + theirs.group_ids}
    token_id = str(ApiToken.objects.get(account__sessions__id=mine.session_id).id)
    for fixture in (mine, theirs):
        account = Account.objects.get(sessions__id=fixture.session_id)
        group_ids = [uuid.UUID(g) for g in fixture.group_ids]
        targets = send_targets_resolve(account=account, session_id=uuid.UUID(fixture.session_id), group_ids=group_ids)
        first = timezone.now() + timedelta(days=1)
        timing = {"kind": "interval", "first_run_at": first, "interval_ms": 3_600_000, "max_occurrences": MAX_OCCURRENCES}
        schedule = schedule_create(targets=targets, text="fuzz", media=[], actor_user=None, timing=timing)
        send = send_create(targets=targets, text="fuzz", media=[], actor_user=None).send
        # Loopback, written directly: the API refuses private targets outside tests, and nothing is sent to it.
        endpoint = WebhookEndpoint.objects.create(account=account, url="http://127.0.0.1:9/fuzz", events=["*"], secret="whsec_fuzz")
        secret, _ = api_secret_create(account=account, name="fuzz", scopes=["read"])
        ids.setdefault("schedule_ids", []).append(str(schedule.id))
        ids.setdefault("send_ids", []).append(str(send.id))
        ids.setdefault("endpoint_ids", []).append(str(endpoint.id))
        ids.setdefault("secret_ids", []).append(str(secret.id))
    return {"token": mine.token, "token_id": token_id, "other_token": theirs.token, "ids": ids}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--max-examples", type=int, default=None, help="cases per operation and phase")
    bound.add_argument("--max-time", type=int, default=None, help="seconds of fuzzing (default 60 without --max-examples)")
    parser.add_argument("--seed", type=int, default=None, help="for a reproducible run")
    parser.add_argument(
        "--workers", type=int, default=1, help="schemathesis threads (more than 1 trips a CPython 3.11 ast race in hypothesis)"
    )
    parser.add_argument("--database", default="outbound_fuzz", help="PostgreSQL database to (re)create (default outbound_fuzz)")
    parser.add_argument("--report-dir", default=str(LOG_DIR / "fuzz"))
    args = parser.parse_args(argv)

    # The production limits (not bench_env's lifted ones): only the fuzzer's own token is exempt, below.
    env = bench_env(
        database=args.database, CELERY_TASK_DEFAULT_QUEUE=f"fuzz-{uuid.uuid4().hex[:8]}",
        API_RATE_LIMIT_PER_TOKEN="600/minute", API_RATE_LIMIT_PER_ACCOUNT="1200/minute",
    )
    database_reset(env)
    django_setup(env)
    accounts = seed_accounts()
    env["API_RATE_LIMIT_EXEMPT_CREDENTIALS"] = accounts["token_id"]
    # Real ids for schemathesis.toml's dictionaries, so some requests get past "no such session".
    data = ROOT / "var" / "bench" / "fuzz" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, values in accounts["ids"].items():
        (data / f"{name}.txt").write_text("".join(json.dumps(value) + "\n" for value in values))
    processes = Processes()
    port = free_port()
    processes.web(env, port, name="fuzz-web", access_log="-")
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"http://127.0.0.1:{port}/v2/schema",
        "--checks", "all", "--workers", str(args.workers),
        "--wait-for-schema", "30", "--report", "junit,ndjson", "--report-dir", args.report_dir,
    ]
    if args.max_examples is not None:
        # Cases, not seconds: the same run on any machine. No example database, so
        # what earlier runs found does not change what this one explores.
        command += ["--max-examples", str(args.max_examples), "--generation-database", "none"]
    else:
        command += ["--max-time", str(args.max_time or 60)]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    bound_text = f"{args.max_examples} cases per operation and phase" if args.max_examples is not None else f"{args.max_time or 60} s"
    print(f"fuzzing http://127.0.0.1:{port}/v2/schema, {bound_text} (web log: {LOG_DIR / 'fuzz-web.log'})", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env={**env, "FUZZ_TOKEN": accounts["token"]}, capture_output=True, text=True)
    duration = time.monotonic() - started
    processes.stop_all()
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    print(run_figures(result.stdout, LOG_DIR / "fuzz-web.log", duration), flush=True)
    return result.returncode


# gunicorn's access log line: ... "METHOD /path HTTP/1.1" STATUS ...
_ACCESS_STATUS = re.compile(r'" (\d{3}) ')


def run_figures(output: str, web_log, duration: float) -> str:
    """One line for docs: the cases schemathesis ran and failed, the 5xx the service answered, how long it took."""
    statuses = [int(m.group(1)) for line in web_log.read_text().splitlines() if (m := _ACCESS_STATUS.search(line))]
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) failures?", output)
    counts = {code: sum(1 for s in statuses if s // 100 == code // 100) for code in (200, 400, 500)}
    return (
        f"fuzz figures: cases {cases.group(1) if cases else '?'}, requests {len(statuses)}, "
        f"failures {failures.group(1) if failures else 0}, server errors (5xx) {counts[500]}, "
        f"429 {sum(1 for s in statuses if s == 429)}, 2xx {counts[200]}, 4xx {counts[400]}, duration {duration:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
