"""Soak: the whole service under a steady mixed load for a long time, sampled every 10 s.

    bin/bench soak --minutes 30 [--sends-per-second 1.8] [--groups 10] [--retention-minutes 5]

Everything runs as deployed on this machine: gunicorn (2 sync workers), a
Celery worker (prefork 2), beat, the fake gateway with delivery receipts on
(SERVER, DEVICE and READ acks a second apart, posted back to the web process
like WAHA), and a local webhook receiver. Two tenants: A has a webhook
endpoint (every event), B has none. Each tenant sends from three sessions,
one of them paced (messages_per_minute 300, 0-100 ms extra gap: about 4 a
second, so the paced third of the load keeps up at the default rate).

The load is open loop from a separate process: `--sends-per-second` POSTs
to /v2/outbound/sends, 70% immediate, 30% scheduled one-shots due 20-90 s
later, spread over the sessions; plus, from the start, 40 interval
schedules that fire every minute (one group each). The default (1.8 sends/s
of 10 groups, 18 deliveries a second) is about 70% of what this 2-core
machine sustains with receipts and webhooks on: at 4 sends/s it delivered
about 26 a second and queued the rest (docs/benchmarks.md).

Retention runs as in production but compressed: periods of
`--retention-minutes` instead of days, purges every 20 s, so a run of
minutes shows whether storage levels off as it would over weeks.

Every 10 s: API p99, fire lag p99, deliveries/s, queue depths, unrelayed
events, webhook latency (event committed -> receiver got it) p99, row
counts, database size and the RSS of every process. At the end: a table,
each figure's trend over the last 20 minutes (or the last two thirds of a
shorter run), and PNG plots under var/bench/soak/ (docs/images/ with
--docs).
"""

import argparse
import asyncio
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.common import LOG_DIR, ROOT, Processes, bench_env, database_reset, django_setup, machine, percentile, rss_mb, table
from bench.cpu import free_port, pids_named

SAMPLE_SECONDS = 10
HEADERS = [
    "t s", "api req/s", "api p99 ms", "refused", "fire lag p99 s", "fires", "deliv/s", "fire q", "default q",
    "unrelayed", "webhook p99 s", "webhooks", "events", "deliveries", "runs", "webhook msgs", "db MB",
    "web MB", "worker MB", "beat MB", "gateway MB", "redis MB",
]


# -- the load generator (its own process: python -m bench.soak --generate < spec) -----------------


async def _post(spec: dict, body: dict, due: float, out) -> None:
    loop = asyncio.get_running_loop()
    token = body.pop("_token")
    data = json.dumps(body).encode()
    head = (
        f"POST /v2/outbound/sends HTTP/1.1\r\nHost: 127.0.0.1:{spec['port']}\r\nAuthorization: Bearer {token}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    status, writer = 0, None
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
            writer.write(head.encode() + data)
            line = await reader.readline()
            await reader.read()
            status = int(line.split()[1])
    except (OSError, TimeoutError, ValueError, IndexError):
        pass
    finally:
        if writer:
            writer.close()
    out.write(json.dumps([time.time(), (loop.time() - due) * 1000, status]) + "\n")
    out.flush()


async def generate(spec: dict) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(spec["seed"])
    start = loop.time() + 0.1
    total = int(spec["rate"] * spec["seconds"])
    tasks = []
    with open(spec["out"], "a") as out:
        for index in range(total):
            due = start + index / spec["rate"]
            await asyncio.sleep(max(0.0, due - loop.time()))
            tenant = rng.choice(spec["tenants"])
            session = rng.choice(tenant["sessions"])
            body = {
                "_token": tenant["token"],
                "session_id": session["id"],
                "group_ids": rng.sample(session["group_ids"], spec["groups"]),
                "idempotency_key": f"soak-{uuid.uuid4().hex}",
                "text": "soak",
            }
            if rng.random() < 0.3:
                body["schedule"] = {"first_run_at_ms": int((time.time() + rng.uniform(20, 90)) * 1000)}
            tasks.append(asyncio.create_task(_post(spec, body, due, out)))
        await asyncio.gather(*tasks)


# -- the driver --------------------------------------------------------------------------------


def seed(groups_per_session: int) -> list[dict]:
    """Two tenants, three sessions each (one paced), groups, tokens; A with a webhook endpoint (set later)."""
    from core.models import Account
    from outbound.models import Group, Session
    from core.services.tokens import api_token_create

    tenants = []
    for name in ("A", "B"):
        account = Account.objects.create(name=f"soak tenant {name}")
        sessions = []
        for i in range(3):
            paced = i == 0
            session = Session.objects.create(
                account=account, name=f"soak-{name}-{i}-{uuid.uuid4().hex[:6]}", role="sending", status="WORKING",
                messages_per_minute=300 if paced else None, send_delay_min_ms=0, send_delay_max_ms=100 if paced else 0,
            )
            rows = Group.objects.bulk_create([
                Group(account=account, chat_id=f"1203630{abs(hash((name, i, g))) % 10**11:011d}{g}@g.us", name=f"{name}{i}-{g}")
                for g in range(groups_per_session)
            ])
            session.groups.add(*rows)
            sessions.append({"id": str(session.id), "group_ids": [str(g.id) for g in rows], "paced": paced})
        _, token = api_token_create(account=account, name="soak")
        tenants.append({"name": name, "account_id": str(account.id), "token": token, "sessions": sessions})
    return tenants


def start_interval_schedules(tenants: list[dict], count: int, minutes: int) -> None:
    """Schedules that fire every minute for the whole run (and a bit), one group each."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Account
    from outbound.services.sends import send_targets_resolve
    from schedules.services import schedule_create

    for i in range(count):
        tenant = tenants[i % len(tenants)]
        session = tenant["sessions"][1 + i % 2]  # unpaced ones
        account = Account.objects.get(pk=tenant["account_id"])
        targets = send_targets_resolve(account=account, session_id=uuid.UUID(session["id"]), group_ids=[uuid.UUID(session["group_ids"][i % 10])])
        first = timezone.now() + timedelta(seconds=30 + (i * 60 / count))
        timing = {"kind": "interval", "first_run_at": first, "interval_ms": 60_000, "max_occurrences": minutes + 2}
        schedule_create(targets=targets, text="soak interval", media=[], actor_user=None, timing=timing)


def db_sample(since, until) -> dict:
    """What the database says about the last window."""
    from django.db import connection
    from django.db.models import F

    from core.models import Event
    from outbound.models import Delivery
    from schedules.models import Run
    from webhooks.models import WebhookMessage

    runs = list(Run.objects.filter(started_at__gte=since, started_at__lt=until, send__isnull=False)
                .annotate(lag=F("started_at") - F("due_at")).values_list("lag", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    return {
        "fire_lags": [lag.total_seconds() for lag in runs],
        "sent": Delivery.objects.filter(sent_at__gte=since, sent_at__lt=until).count(),
        "unrelayed": Event.objects.filter(relayed=False).count(),
        "events": Event.objects.count(),
        "deliveries": Delivery.objects.count(),
        "runs": Run.objects.count(),
        "webhook_messages": WebhookMessage.objects.count(),
        "db_mb": size / 1024 / 1024,
    }


def queue_depths(env: dict) -> tuple[int, int]:
    import redis

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    return client.llen(f"{queue}.fire"), client.llen(queue)


def read_api(path: Path, offset: int) -> tuple[list, int]:
    with path.open() as fh:
        fh.seek(offset)
        lines = fh.readlines()
        return [json.loads(line) for line in lines if line.endswith("\n")], fh.tell()


def trend(values: list[float], times: list[float]) -> tuple[float, float, str]:
    """(change over the window by a least-squares line, noise: stdev of the residuals, verdict)."""
    points = [(t, v) for t, v in zip(times, values) if v == v]  # drop NaN
    if len(points) < 4:
        return float("nan"), float("nan"), "too few samples"
    n = len(points)
    mt, mv = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    sxx = sum((t - mt) ** 2 for t, _ in points) or 1e-9
    slope = sum((t - mt) * (v - mv) for t, v in points) / sxx
    residuals = [v - (mv + slope * (t - mt)) for t, v in points]
    noise = (sum(r * r for r in residuals) / max(1, n - 2)) ** 0.5
    change = slope * (points[-1][0] - points[0][0])
    upward = change > 2 * noise and change > 0.1 * abs(mv)
    return change, noise, "UP" if upward else "flat"


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    minutes = [r["t"] / 60 for r in rows]
    panels = [
        ("API p99 (ms)", ["api_p99"]), ("fire lag p99 (s)", ["fire_p99"]), ("deliveries / s", ["deliv_s"]),
        ("webhook latency p99 (s)", ["webhook_p99"]), ("queue depth", ["fire_q", "default_q"]),
        ("unrelayed events", ["unrelayed"]), ("rows", ["events", "deliveries", "webhook_messages"]),
        ("database MB", ["db_mb"]), ("RSS MB", ["web_mb", "worker_mb", "beat_mb", "gateway_mb", "redis_mb"]),
    ]
    fig, axes = plt.subplots(3, 3, figsize=(15, 10), sharex=True)
    for ax, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            ax.plot(minutes, [r[key] for r in rows], label=key, linewidth=1)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    fig.suptitle("Soak: the whole service under a steady mixed load")
    fig.tight_layout()
    path = out_dir / "soak.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sends-per-second", type=float, default=1.8)
    parser.add_argument("--groups", type=int, default=10, help="groups per send (at most 20)")
    parser.add_argument("--interval-schedules", type=int, default=40)
    parser.add_argument("--retention-minutes", type=float, default=5.0)
    parser.add_argument("--docs", action="store_true", help="write the plot to docs/images/ too")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        return asyncio.run(generate(json.load(sys.stdin)))

    web_port, gateway_port, receiver_port = free_port(), free_port(), free_port()
    days = args.retention_minutes / 1440
    env = bench_env(
        database="outbound_soak",
        WAHA_BASE_URL=f"http://127.0.0.1:{gateway_port}",
        WAHA_WEBHOOK_ALLOW_UNSIGNED="1",
        URL_ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8",
        RETENTION_EVENTS_DAYS=days, RETENTION_WEBHOOK_MESSAGES_DAYS=days, RETENTION_SCHEDULE_MIRRORS_DAYS=days,
        RETENTION_RUN_HISTORY_DAYS=days, RETENTION_PROVIDER_EVENTS_DAYS=days, IDEMPOTENCY_KEY_TTL_HOURS=days * 24,
        RETENTION_PURGE_SECONDS=20,
        LOG_LEVEL="WARNING",
    )
    django_setup(env)
    print(machine())
    database_reset(env)
    tenants = seed(20)
    processes = Processes()
    out_dir = LOG_DIR / "soak"
    out_dir.mkdir(parents=True, exist_ok=True)
    api_log = out_dir / "api.jsonl"
    api_log.write_text("")
    try:
        receiver = processes.start("soak-receiver", [sys.executable, "-m", "bench.receiver", "--port", str(receiver_port)],
                                   env, ready="listening")
        gateway = processes.start(
            "soak-gateway",
            [sys.executable, "manage.py", "run_fake_gateway", "--port", str(gateway_port),
             "--webhook-url", f"http://127.0.0.1:{web_port}/v2/providers/waha/webhook", "--ack-delay-ms", "1000"],
            env, ready="listening",
        )
        web = processes.web(env, web_port, name="soak-web")
        worker = processes.worker(env, 2, name="soak-worker")
        beat = processes.beat(env, name="soak-beat")
        from core.models import Account
        from webhooks.models import WebhookEndpoint

        WebhookEndpoint.objects.create(
            account=Account.objects.get(pk=tenants[0]["account_id"]), url=f"http://127.0.0.1:{receiver_port}/hook",
            events=["*"], secret="whsec_" + "c29hay1zZWNyZXQtZm9yLWJlbmNo",
        )
        start_interval_schedules(tenants, args.interval_schedules, int(args.minutes) + 1)
        seconds = args.minutes * 60
        spec = {"port": web_port, "rate": args.sends_per_second, "seconds": seconds, "groups": args.groups,
                "tenants": tenants, "seed": 7, "out": str(api_log)}
        generator = subprocess.Popen([sys.executable, "-m", "bench.soak", "--generate"], stdin=subprocess.PIPE,
                                     cwd=ROOT, env=env, text=True)
        generator.stdin.write(json.dumps(spec))
        generator.stdin.close()
        vacuum_stop = vacuum_if_autovacuum_is_off(env)
        rows = sample_until(args, env, seconds, api_log, receiver_port,
                            {"web": web, "worker": worker, "beat": beat, "gateway": gateway, "receiver": receiver})
        vacuum_stop.set()
        generator.wait(timeout=60)
    finally:
        processes.stop_all()
    report(args, rows, out_dir)


VACUUM_SECONDS = 60


def vacuum_if_autovacuum_is_off(env: dict) -> threading.Event:
    """Vacuum the database every VACUUM_SECONDS if this PostgreSQL has autovacuum off; set the event to stop.

    A soak measures whether storage levels off, which in production rests on
    autovacuum making deleted rows' space reusable. Some CI machines turn it
    off (this project's does, in its conf.d); the soak then vacuums in its
    place, as often as autovacuum would look (autovacuum_naptime, 1 min).
    """
    import psycopg2

    stop = threading.Event()
    conn = psycopg2.connect(env["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            conn.close()
            return stop
    print(f"  autovacuum is off on this PostgreSQL: the soak runs VACUUM (ANALYZE) every {VACUUM_SECONDS} s in its place")

    def loop():
        while not stop.wait(VACUUM_SECONDS):
            with conn.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE)")
        conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return stop


def sample_until(args, env, seconds, api_log: Path, receiver_port: int, procs: dict) -> list[dict]:
    from datetime import datetime, timedelta, timezone

    http = httpx.Client(timeout=10)
    rows, offset, seen_webhooks = [], 0, 0
    t0 = time.monotonic()
    last = datetime.now(timezone.utc)
    while time.monotonic() - t0 < seconds:
        time.sleep(SAMPLE_SECONDS - (time.monotonic() - t0) % SAMPLE_SECONDS)
        now = datetime.now(timezone.utc)
        api, offset = read_api(api_log, offset)
        db = db_sample(last - timedelta(seconds=0), now)
        received = http.get(f"http://127.0.0.1:{receiver_port}/").json()
        new_latencies = received["latencies_ms"][seen_webhooks:]
        seen_webhooks = len(received["latencies_ms"])
        fire_q, default_q = queue_depths(env)
        ok = [r for r in api if 200 <= r[2] < 300]
        rows.append({
            "t": time.monotonic() - t0,
            "api_rate": len(api) / SAMPLE_SECONDS, "api_p99": percentile([r[1] for r in api], 99),
            "refused": sum(1 for r in api if r[2] in (429, 503)), "api_errors": len(api) - len(ok),
            "fire_p99": percentile(db["fire_lags"], 99), "fires": len(db["fire_lags"]),
            "deliv_s": db["sent"] / SAMPLE_SECONDS, "fire_q": fire_q, "default_q": default_q,
            "unrelayed": db["unrelayed"], "webhook_p99": percentile(new_latencies, 99) / 1000,
            "webhooks": len(new_latencies), "events": db["events"], "deliveries": db["deliveries"], "runs": db["runs"],
            "webhook_messages": db["webhook_messages"], "db_mb": db["db_mb"],
            "web_mb": rss_mb(procs["web"].pid), "worker_mb": rss_mb(procs["worker"].pid), "beat_mb": rss_mb(procs["beat"].pid),
            "gateway_mb": rss_mb(procs["gateway"].pid),
            "redis_mb": sum(rss_mb(pid) for pid in pids_named("redis-server")),
        })
        last = now
        print(f"  {rows[-1]['t']:.0f} s: {len(api)} requests, p99 {rows[-1]['api_p99']:.0f} ms, "
              f"{db['sent']} sent, fire p99 {rows[-1]['fire_p99']:.2f} s, unrelayed {db['unrelayed']}, "
              f"webhook p99 {rows[-1]['webhook_p99']:.2f} s", file=sys.stderr, flush=True)
    return rows


KEYS = ["api_rate", "api_p99", "refused", "fire_p99", "fires", "deliv_s", "fire_q", "default_q", "unrelayed",
        "webhook_p99", "webhooks", "events", "deliveries", "runs", "webhook_messages", "db_mb",
        "web_mb", "worker_mb", "beat_mb", "gateway_mb", "redis_mb"]


def report(args, rows: list[dict], out_dir: Path) -> None:
    print(f"\nSoak: {args.minutes:g} min, {args.sends_per_second:g} sends/s of {args.groups} groups "
          f"(70% immediate, 30% scheduled), {args.interval_schedules} schedules firing every minute, receipts on, "
          f"tenant A with a webhook endpoint; retention {args.retention_minutes:g} min.\n")
    print(table(HEADERS, [[r["t"], *(r[k] for k in KEYS)] for r in rows]))
    window = 20 * 60 if args.minutes > 25 else args.minutes * 60 * 2 / 3
    tail = [r for r in rows if r["t"] >= rows[-1]["t"] - window] if rows else []
    times = [r["t"] for r in tail]
    print(f"\nTrend over the last {window / 60:.0f} minutes (least-squares change across the window vs the residual"
          " noise; UP = rose by more than twice the noise and 10% of the mean):\n")
    trends = [[key, sum(r[key] for r in tail) / max(1, len(tail)), *trend([r[key] for r in tail], times)] for key in KEYS]
    print(table(["figure", "mean", "change", "noise", "verdict"], trends))
    webhook = [r["webhook_p99"] for r in tail if r["webhook_p99"] == r["webhook_p99"]]
    worst = max(webhook, default=float("nan"))
    print(f"\nWebhook latency p99 per sample, worst in the window: {worst:.2f} s (target <= 5 s).")
    for path in plots(rows, out_dir):
        print(f"Plot: {path}")
        if args.docs:
            target = ROOT / "docs" / "images" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            print(f"Plot: {target}")
    (out_dir / "rows.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
