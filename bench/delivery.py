"""Deliveries per second end to end: API POST -> fan-out -> delivery tasks -> fake gateway -> DB.

Target: >= 300 deliveries/s with the fake gateway answering at once.

Per worker configuration (fresh database, queue, gateway and worker each), after a warm-up send:
"single" is one send to --groups groups, "stream" --sends such sends posted back to back (or at
--rate). Each is timed from the first POST on two clocks: the last ledger entry (received_at_ms)
and the last Delivery.sent_at. Latency per message = received_at_ms - Send.created_at. The ledger
is checked for duplicates and losses. POSTs go through the real API in-process (DRF APIClient);
the API's own cost is bench/api.py's subject. A second table says where the CPU went.

    bin/bench delivery [--configs prefork:2,prefork:4,threads:8] [--sends 20] [--groups 100]
"""

import argparse
import os
import sys
import time
from collections import Counter

import httpx

from bench.common import Processes, bench_env, database_reset, django_setup, machine, percentile, redis_flush_queue, rss_mb, table
from bench.cpu import CpuMeter, free_port, pids_named, process_tree
from bench.fixtures import Fixture, bench_fixture, send_body

TARGET_PER_SECOND = 300
THROUGHPUT_HEADERS = ["pool", "concurrency", "worker procs", "scenario", "deliveries", "s (ledger)", "s (db)",
                      "deliv/s (ledger)", "deliv/s (db)", "p50 ms", "p99 ms", "dup", "lost", "worker peak RSS MB"]
CPU_GROUPS = ("worker", "driver", "postgres", "gateway", "redis")
CPU_HEADERS = ["pool", "concurrency", "scenario", *(f"{name} %" for name in CPU_GROUPS), "machine busy %", "steal %",
               "worker CPU ms/delivery", "machine CPU ms/delivery"]


class Ledger:
    """The fake gateway's ledger, read incrementally (since_seq) so polling stays cheap."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.messages: list[dict] = []

    def reset(self) -> None:
        self.http.post("/_fake/reset", json={}).raise_for_status()
        self.messages.clear()

    def poll(self) -> int:
        since = self.messages[-1]["seq"] if self.messages else 0
        self.messages += self.http.get("/_fake/ledger", params={"since_seq": since}).json()["messages"]
        return len(self.messages)


def post_sends(client, fixture: Fixture, sends: int, rate: float) -> list[str]:
    """POST `sends` sends through the API, back to back or at `rate` per second; their ids."""
    ids, t0 = [], time.monotonic()
    for i in range(sends):
        if rate:
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        response = client.post("/v2/outbound/sends", send_body(fixture), format="json")
        if response.status_code != 202:
            raise RuntimeError(f"POST /v2/outbound/sends answered {response.status_code}: {response.content[:500]!r}")
        ids.append(response.json()["send"]["send_id"])
    return ids


def sent_count(send_ids: list[str]) -> int:
    from outbound.models import Delivery

    return Delivery.objects.filter(send_id__in=send_ids, status=Delivery.Status.SENT).count()


def wait_until_done(ledger: Ledger, send_ids: list[str], expected: int, worker_pid: int, meter, timeout: float) -> float:
    """Poll ledger and DB until both hold every delivery (or time out); return the worker's peak RSS."""
    deadline, peak_rss = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        peak_rss = max(peak_rss, rss_mb(worker_pid))
        meter.sample()
        if ledger.poll() >= expected and sent_count(send_ids) >= expected:
            break
        time.sleep(0.2)
    else:
        print(f"  timed out after {timeout:.0f} s: ledger {len(ledger.messages)}, db {sent_count(send_ids)} of {expected}", file=sys.stderr)
    return peak_rss


def outcome(ledger: Ledger, send_ids: list[str], t0: float) -> dict:
    """Durations on both clocks, per-message latency, duplicates and losses."""
    from outbound.models import Delivery, Send

    created = dict(Send.objects.filter(pk__in=send_ids).values_list("pk", "created_at"))
    deliveries = list(Delivery.objects.filter(send_id__in=send_ids).only("id", "send_id", "chat_id", "status", "sent_at"))
    # The gateway message id is derived from the delivery: it ties each ledger entry to its send.
    expected = {d.gateway_message_id(0): d for d in deliveries}
    ours = [m for m in ledger.messages if m["id"] in expected]
    per_id = Counter(m["id"] for m in ours)
    per_chat = Counter(m["chatId"] for m in ours)
    sends_per_chat = Counter(d.chat_id for d in deliveries)
    latencies = [m["received_at_ms"] - created[expected[m["id"]].send_id].timestamp() * 1000 for m in ours]
    sent_at = [d.sent_at.timestamp() for d in deliveries if d.status == Delivery.Status.SENT]
    duplicates = sum(c - 1 for c in per_id.values()) + sum(max(0, per_chat[c] - n) for c, n in sends_per_chat.items())
    return {
        "deliveries": len(deliveries), "dup": duplicates, "lost": len(set(expected) - set(per_id)),
        "ledger_s": max((m["received_at_ms"] / 1000 for m in ours), default=float("nan")) - t0,
        "db_s": max(sent_at, default=float("nan")) - t0,
        "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "foreign": len(ledger.messages) - len(ours),
    }


def measure(client, ledger, fixture, worker, gateway, sends: int, rate: float, timeout: float) -> dict:
    ledger.reset()
    meter = CpuMeter(
        worker=lambda: process_tree(worker.pid),
        driver=lambda: [os.getpid()],  # the in-process API POSTs and the polling
        gateway=lambda: process_tree(gateway.pid),
        postgres=lambda: pids_named("postgres"),
        redis=lambda: pids_named("redis-server"),
    )
    t0 = time.time()
    send_ids = post_sends(client, fixture, sends, rate)
    peak_rss = wait_until_done(ledger, send_ids, sends * len(fixture.group_ids), worker.pid, meter, timeout)
    return {**outcome(ledger, send_ids, t0), "rss": peak_rss, "cpu": meter.result()}


def api_client(fixture: Fixture):
    from rest_framework.test import APIClient

    # HTTP_HOST: DEBUG is off, so the test client's default "testserver" is not an allowed host.
    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {fixture.token}")
    return client


def run_configuration(env: dict, port: int, pool: str, concurrency: int, args) -> list[dict]:
    """One worker configuration from scratch: fresh DB, queue, gateway and worker; two scenarios."""
    from django.db import connections

    connections.close_all()  # the driver's connection must not hold anything TRUNCATE waits for
    database_reset(env)
    redis_flush_queue(env)
    processes = Processes()
    try:
        argv = [sys.executable, "manage.py", "run_fake_gateway", "--port", str(port)]
        gateway = processes.start("delivery-gateway", argv, env, ready="listening")
        worker = processes.worker(env, concurrency, name=f"delivery-worker-{pool}-{concurrency}", pool=pool)
        fixture = bench_fixture(args.groups)
        client, ledger = api_client(fixture), Ledger(f"http://127.0.0.1:{port}")
        # Warm-up: every worker slot runs tasks before timing starts, so the
        # numbers are steady state, not process start-up.
        measure(client, ledger, fixture, worker, gateway, 1, 0, args.timeout)
        results = []
        for scenario, sends in (("single", 1), ("stream", args.sends)):
            result = measure(client, ledger, fixture, worker, gateway, sends, args.rate, args.timeout)
            label = {"pool": pool, "concurrency": concurrency, "procs": len(process_tree(worker.pid))}
            results.append({**result, **label, "scenario": f"{scenario} {sends}x{args.groups}"})
            if result["foreign"]:
                print(f"  {result['foreign']} ledger entries belong to no measured send", file=sys.stderr)
        return results
    finally:
        processes.stop_all()


def measure_floor(env: dict, pool: str, concurrency: int, tasks: int, timeout: float) -> dict:
    """The floor under a delivery: `tasks` no-op Celery tasks (bench.noop, acks_late) through the same
    broker and worker pool, published back to back, timed until the last one ran."""
    import redis

    from bench.bench_app import NOOP_KEY, app, noop

    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    client.delete(NOOP_KEY)
    redis_flush_queue(env)
    processes = Processes()
    try:
        worker = processes.start(
            f"floor-worker-{pool}-{concurrency}",
            [sys.executable, "-m", "celery", "-A", "bench.bench_app", "worker", "-l", "WARNING", "-c", str(concurrency),
             "-P", pool, "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"floor-{pool}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            env,
            ready="ready",
        )
        app.conf.task_default_queue = env["CELERY_TASK_DEFAULT_QUEUE"]
        time.sleep(1.0)  # the pool's processes up before timing starts
        meter = CpuMeter(worker=lambda: process_tree(worker.pid), driver=lambda: [os.getpid()],
                         redis=lambda: pids_named("redis-server"))
        t0 = time.time()
        for _ in range(tasks):
            noop.delay()
        deadline = time.monotonic() + timeout
        while int(client.get(NOOP_KEY) or 0) < tasks and time.monotonic() < deadline:
            meter.sample()
            time.sleep(0.05)
        elapsed = time.time() - t0
        return {"pool": pool, "concurrency": concurrency, "tasks": int(client.get(NOOP_KEY) or 0), "s": elapsed,
                "cpu": meter.result()}
    finally:
        processes.stop_all()


def floor_row(r: dict) -> list:
    cpu, ms_each = r["cpu"], 1000 / max(1, r["tasks"])
    return [r["pool"], r["concurrency"], r["tasks"], r["s"], r["tasks"] / r["s"], cpu["worker"], cpu["driver"], cpu["redis"],
            cpu["seconds"]["worker"] * ms_each, cpu["machine seconds"] * ms_each]


FLOOR_HEADERS = ["pool", "concurrency", "no-op tasks", "s", "tasks/s", "worker %", "driver %", "redis %",
                 "worker CPU ms/task", "machine CPU ms/task"]


def throughput_row(r: dict) -> list:
    per_second = [r["deliveries"] / r["ledger_s"], r["deliveries"] / r["db_s"]]
    return [r["pool"], r["concurrency"], r["procs"], r["scenario"], r["deliveries"], r["ledger_s"], r["db_s"],
            *per_second, r["p50"], r["p99"], r["dup"], r["lost"], r["rss"]]


def cpu_row(r: dict) -> list:
    cpu, ms_each = r["cpu"], 1000 / r["deliveries"]
    return [r["pool"], r["concurrency"], r["scenario"], *(cpu[name] for name in CPU_GROUPS), cpu["machine busy"],
            cpu["steal"], cpu["seconds"]["worker"] * ms_each, cpu["machine seconds"] * ms_each]


def parse_configurations(text: str) -> list[tuple[str, int]]:
    return [(item.strip().partition(":")[0], int(item.partition(":")[2] or 1)) for item in text.split(",")]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="prefork:2,prefork:4,threads:8", help="pool:concurrency, comma-separated")
    parser.add_argument("--groups", type=int, default=100, help="groups per send (1-100)")
    parser.add_argument("--sends", type=int, default=20, help="sends in the stream scenario")
    parser.add_argument("--rate", type=float, default=0, help="stream sends per second; 0 = back to back")
    parser.add_argument("--port", type=int, default=0, help="fake gateway port; 0 = a free one")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for one scenario")
    parser.add_argument("--floor-tasks", type=int, default=2000, help="no-op tasks of the floor row per configuration (0: none)")
    return parser.parse_args(argv)


def report(results: list[dict], floors: list[dict]) -> None:
    print(table(THROUGHPUT_HEADERS, [throughput_row(r) for r in results]))
    if floors:
        print("\nThe floor, same broker and pools in the same run: Celery no-op tasks (acks_late), published back to back:\n")
        print(table(FLOOR_HEADERS, [floor_row(r) for r in floors]))
    best = max((r for r in results if r["scenario"].startswith("stream")), key=lambda r: r["deliveries"] / max(r["ledger_s"], r["db_s"]))
    rate = best["deliveries"] / max(best["ledger_s"], best["db_s"])
    print(f"\nTarget >= {TARGET_PER_SECOND} deliveries/s end to end (stream, slower clock): "
          f"{'met' if rate >= TARGET_PER_SECOND else 'NOT met'}; best {rate:.0f}/s with {best['pool']} -c {best['concurrency']}.")
    print(f"\nWhere the CPU went (% of one core; the machine has {os.cpu_count()}; machine busy and steal are % of all cores):\n")
    print(table(CPU_HEADERS, [cpu_row(r) for r in results]))


def main(argv=None) -> None:
    args = parse_args(argv)
    port = args.port or free_port()
    env = bench_env(WAHA_BASE_URL=f"http://127.0.0.1:{port}")
    django_setup(env)
    print(machine())
    print(f"Delivery end to end (POST in-process -> worker -> fake gateway answering at once -> DB), {args.groups} groups per send\n")
    results, floors = [], []
    for pool, concurrency in parse_configurations(args.configs):
        print(f"  running {pool} -c {concurrency} ...", file=sys.stderr)
        results += run_configuration(env, port, pool, concurrency, args)
        if args.floor_tasks:
            floors.append(measure_floor(env, pool, concurrency, args.floor_tasks, args.timeout))
    report(results, floors)


if __name__ == "__main__":
    main()
