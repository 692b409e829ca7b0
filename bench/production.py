"""Delivery on the production path, not only the best case: pacing on, receipts on, a tenant with webhooks.

    bin/bench production [--sessions 60] [--groups 10] [--pace 30]

bin/bench delivery measures the bare pipeline (unpaced sessions, no
receipts, no webhooks). Users will see these rows instead:
- "paced": `--sessions` sessions at the default pacing (`--pace` messages a
  minute, 0-2 s random extra gap), each sending one send to `--groups`
  groups: every delivery waits for its session's slot, so each is
  attempted, put back and attempted again.
- "paced + receipts + webhooks": the same, plus the fake gateway's
  delivery receipts (SERVER, DEVICE, READ, a second apart, posted to the web
  process like WAHA does), and half of the sessions belonging to a tenant
  with a webhook endpoint (every event) on a local receiver.
- "paced + human-like": the "paced" row with every session human-like
  (issue 22): before each message the chat is marked seen and typing shows
  for the sessions' default typing time (1-8 s, growing with the text),
  inside the pacing. Its extra columns show that no worker is held while a
  session types: "typing at once" is the most chats typing at the same
  moment (from the gateway's seen/typing ledger; a worker held per typing
  chat could not exceed the 2 worker processes), "typing s" the mean typing
  time, "late p99 ms" how long after its typing ended a message reached the
  gateway, "worker busy %" the worker processes' CPU over 2 x the wall
  time, and "gaps < pace" the consecutive sends of a session closer than
  60/pace s (0: every delivery within its pacing).
Each row: how long until every delivery was sent, the rate, and the CPU each
delivery cost per process group (worker, web, gateway, receiver, PostgreSQL,
Redis, the driver posting the sends) and machine-wide, beside the floor
(Celery no-op tasks, bin/bench delivery) of the same machine.
`--scenario human` runs the human-like row alone.
"""

import argparse
import os
import sys
import time
import uuid

import httpx

from bench.common import Processes, bench_env, database_reset, django_setup, machine, percentile, redis_flush_queue, table
from bench.cpu import CpuMeter, free_port, pids_named, process_tree

HEADERS = ["scenario", "sessions", "deliveries", "s to all sent", "deliv/s", "read receipts", "webhooks", "webhook p99 s",
           "dup", "lost", "worker ms", "web ms", "gateway ms", "receiver ms", "postgres ms", "redis ms", "driver ms",
           "machine ms/delivery", "machine busy %", "worker busy %", "typing s", "typing at once", "late p99 ms", "gaps < pace"]
GROUPS_PER_TENANT_SESSION = 10


def seed(sessions: int, groups: int, pace: int, human_like: bool = False) -> list[dict]:
    """Two tenants, `sessions` sessions between them at the default pacing, `groups` groups each.

    Human-like sessions keep the model's default typing range.
    """
    from core.models import Account
    from outbound.models import Group, Session
    from core.services.tokens import api_token_create

    tenants = []
    for name in ("A", "B"):
        account = Account.objects.create(name=f"production {name}")
        rows = []
        for i in range(sessions // 2):
            session = Session.objects.create(
                account=account, name=f"prod-{name}-{i}-{uuid.uuid4().hex[:6]}", role="sending", status="WORKING",
                messages_per_minute=pace, send_delay_min_ms=0, send_delay_max_ms=2000, human_like=human_like,
            )
            groups_made = Group.objects.bulk_create([
                Group(account=account, chat_id=f"12036{ord(name)}{i:05d}{g:04d}@g.us", name=f"{name}{i}-{g}") for g in range(groups)
            ])
            session.groups.add(*groups_made)
            rows.append({"id": str(session.id), "group_ids": [str(g.id) for g in groups_made]})
        _, token = api_token_create(account=account, name="production")
        tenants.append({"name": name, "account": account, "token": token, "sessions": rows})
    return tenants


def post_all(web: str, tenants: list[dict]) -> list[str]:
    ids = []
    with httpx.Client(base_url=web, timeout=30) as http:
        for tenant in tenants:
            for session in tenant["sessions"]:
                body = {"session_id": session["id"], "group_ids": session["group_ids"], "idempotency_key": uuid.uuid4().hex,
                        "text": "production path"}
                response = http.post("/v2/outbound/sends", json=body, headers={"Authorization": f"Bearer {tenant['token']}"})
                response.raise_for_status()
                ids.append(response.json()["send"]["send_id"])
    return ids


def typing_figures(send_ids: list, ledger: list, actions: list, pace: int) -> dict:
    """Typing time, the most chats typing at once, how late each send was after its typing, pace breaches."""
    from outbound.models import Delivery

    rows = list(Delivery.objects.filter(send_id__in=send_ids).values_list("chat_id", "typing_started_at", "typing_ms"))
    received = {m["chatId"]: m["received_at_ms"] for m in ledger}
    late = [received[chat] - (started.timestamp() * 1000 + ms) for chat, started, ms in rows if started and chat in received]
    edges = sorted([(a["at_ms"], 1) for a in actions if a["kind"] == "typing_start"]
                   + [(a["at_ms"], -1) for a in actions if a["kind"] == "typing_stop"], key=lambda e: (e[0], e[1]))
    typing = most = 0
    for _, step in edges:
        typing += step
        most = max(most, typing)
    by_session = {}
    for message in ledger:
        by_session.setdefault(message["session"], []).append(message["received_at_ms"])
    floor_ms = 60_000 / pace - 20  # a send may reach the gateway some ms after its slot
    breaches = sum(1 for times in by_session.values() for a, b in zip(sorted(times), sorted(times)[1:]) if b - a < floor_ms)
    typed = [ms for _, _, ms in rows if ms]
    return {"typing_s": sum(typed) / max(1, len(typed)) / 1000, "typing_at_once": most,
            "late_p99": percentile(late, 99) if late else None, "pace_breaches": breaches}


def run_scenario(env: dict, args, receipts: bool, webhooks: bool, human_like: bool = False) -> dict:
    from django.db import connections

    from outbound.models import Delivery
    from webhooks.models import WebhookEndpoint

    connections.close_all()
    database_reset(env)
    redis_flush_queue(env)
    web_port, gateway_port, receiver_port = free_port(), free_port(), free_port()
    env = {**env, "WAHA_BASE_URL": f"http://127.0.0.1:{gateway_port}"}
    processes = Processes()
    try:
        gateway_argv = [sys.executable, "manage.py", "run_fake_gateway", "--port", str(gateway_port)]
        if receipts:
            gateway_argv += ["--webhook-url", f"http://127.0.0.1:{web_port}/v2/providers/waha/webhook", "--ack-delay-ms", "1000"]
        gateway = processes.start("prod-gateway", gateway_argv, env, ready="listening")
        receiver = processes.start("prod-receiver", [sys.executable, "-m", "bench.receiver", "--port", str(receiver_port)],
                                   env, ready="listening")
        web = processes.web(env, web_port, name="prod-web")
        worker = processes.worker(env, 2, name="prod-worker")
        tenants = seed(args.sessions, args.groups, args.pace, human_like=human_like)
        if webhooks:
            WebhookEndpoint.objects.create(account=tenants[0]["account"], url=f"http://127.0.0.1:{receiver_port}/hook",
                                           events=["*"], secret="whsec_" + "cHJvZHVjdGlvbi1wYXRoLWJlbmNo")
        meter = CpuMeter(
            worker=lambda: process_tree(worker.pid), web=lambda: process_tree(web.pid),
            gateway=lambda: process_tree(gateway.pid), receiver=lambda: process_tree(receiver.pid),
            postgres=lambda: pids_named("postgres"), redis=lambda: pids_named("redis-server"), driver=lambda: [os.getpid()],
        )
        t0 = time.time()
        send_ids = post_all(f"http://127.0.0.1:{web_port}", tenants)
        expected = len(send_ids) * args.groups
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            meter.sample()
            sent = Delivery.objects.filter(send_id__in=send_ids, sent_at__isnull=False).count()
            settled = not receipts or Delivery.objects.filter(send_id__in=send_ids, status="read").count() >= expected
            if sent >= expected and settled:
                break
            time.sleep(0.5)
        all_sent = max(d.timestamp() for d in Delivery.objects.filter(send_id__in=send_ids).values_list("sent_at", flat=True) if d) - t0
        if webhooks:
            time.sleep(3)  # the last events' webhooks
        cpu = meter.result()
        ledger = httpx.get(f"http://127.0.0.1:{gateway_port}/_fake/ledger").json()["messages"]
        received = httpx.get(f"http://127.0.0.1:{receiver_port}/").json()
        actions = httpx.get(f"http://127.0.0.1:{gateway_port}/_fake/chat_actions").json()["actions"]
        delivered_ids = [m["id"] for m in ledger]
        deliveries = Delivery.objects.filter(send_id__in=send_ids).count()
        scenario = "paced + receipts + webhooks" if receipts else "paced + human-like" if human_like else "paced"
        return {
            "scenario": scenario, "sessions": args.sessions, **typing_figures(send_ids, ledger, actions, args.pace),
            "deliveries": deliveries, "s": all_sent, "rate": deliveries / all_sent,
            "read": Delivery.objects.filter(send_id__in=send_ids, status="read").count(),
            "webhooks": received["received"], "webhook_p99": percentile(received["latencies_ms"], 99) / 1000,
            "dup": len(delivered_ids) - len(set(delivered_ids)), "lost": expected - len(set(delivered_ids)),
            "cpu": cpu,
        }
    finally:
        processes.stop_all()


def row(r: dict) -> list:
    cpu, each = r["cpu"], 1000 / max(1, r["deliveries"])
    groups = ("worker", "web", "gateway", "receiver", "postgres", "redis", "driver")
    return [r["scenario"], r["sessions"], r["deliveries"], r["s"], r["rate"], r["read"], r["webhooks"], r["webhook_p99"],
            r["dup"], r["lost"], *(cpu["seconds"][g] * each for g in groups), cpu["machine seconds"] * each,
            cpu["machine busy"], 100 * cpu["seconds"]["worker"] / (2 * r["s"]), r["typing_s"] or "-", r["typing_at_once"] or "-",
            "-" if r["late_p99"] is None else r["late_p99"], r["pace_breaches"]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=60, help="sessions, split between the two tenants")
    parser.add_argument("--groups", type=int, default=10, help="groups per session (one send each)")
    parser.add_argument("--pace", type=int, default=30, help="messages a minute per session (the default pacing)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--scenario", choices=["all", "paced", "receipts", "human"], default="all",
                        help="one row only (paced, paced + receipts + webhooks, paced + human-like), or all three")
    args = parser.parse_args(argv)
    # BENCH_DATABASE: runs sharing a PostgreSQL each need their own (every scenario drops and makes it).
    env = bench_env(database=os.environ.get("BENCH_DATABASE", "outbound_bench_production"), WAHA_WEBHOOK_ALLOW_UNSIGNED="1",
                    URL_ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8")
    django_setup(env)
    print(machine())
    scenarios = {
        "paced": dict(receipts=False, webhooks=False),
        "receipts": dict(receipts=True, webhooks=True),
        "human": dict(receipts=False, webhooks=False, human_like=True),
    }
    chosen = list(scenarios) if args.scenario == "all" else [args.scenario]
    results = [run_scenario(env, args, **scenarios[name]) for name in chosen]
    print(f"\nDelivery on the production path: {args.sessions} sessions paced at {args.pace}/min (0-2 s extra gap), "
          f"one send of {args.groups} groups each, on 2 worker processes; CPU is ms per delivery.\n")
    print(table(HEADERS, [row(r) for r in results]))


if __name__ == "__main__":
    main()
