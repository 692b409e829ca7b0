"""Chaos suite: a real stack under failures, then the gateway's ledger checked against the database.

    bin/chaos            # full: >= 10,000 deliveries, about 5 minutes
    bin/chaos --short    # about a minute (CI runs this through tests/e2e/test_chaos_e2e.py)

A real stack (PostgreSQL, a Redis server of its own, two worker processes,
beat, the fake gateway) sends immediate and scheduled messages while the
suite SIGKILLs worker processes at random, restarts beat (gently and with
SIGKILL), runs two beats at once, hangs the leading beat (SIGSTOP, then
SIGCONT) while a standby runs, restarts Redis (which keeps nothing, so
every queued task is lost), makes the gateway fail requests and answer
slowly, and flips a session to not WORKING and back. Once everything has
settled it prints, per delivery: delivered once, duplicates, lost,
ambiguous (unconfirmed), and failed with their reasons. Target: 0 duplicates, 0 lost.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
import httpx

from bench.common import Processes, bench_env, database_reset, django_setup, machine, table
from bench.cpu import free_port

PROFILES = {
    # sends x groups immediate, schedules x occurrences x groups, seconds of chaos
    "full": {"sends": 80, "groups": 100, "schedules": 10, "occurrences": 3, "schedule_groups": 70, "chaos_seconds": 150},
    "short": {"sends": 10, "groups": 60, "schedules": 4, "occurrences": 2, "schedule_groups": 30, "chaos_seconds": 40},
}


class Stack:
    """The processes under test, restartable one by one."""

    def __init__(self, env: dict, redis_port: int):
        self.env, self.redis_port = env, redis_port
        self.processes = Processes()
        self.workers, self.beats, self.redis = [], [], None
        self.retired: set[int] = set()  # workers stopped on purpose
        self.events: list[str] = []
        self._lock = threading.Lock()

    def log(self, what: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"  chaos: {what}", flush=True)

    def start_redis(self) -> None:
        self.redis = self.processes.start(
            "chaos-redis",
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            self.env,
            ready="Ready to accept connections",
        )

    def start_worker(self) -> None:
        with self._lock:
            name = f"chaos-worker-{len(self.workers)}"
            self.workers.append(None)  # the slot, so two starts never share a name
        worker = self.processes.worker(self.env, 2, name=name)
        with self._lock:
            self.workers[self.workers.index(None)] = worker

    def supervise(self, stop: threading.Event) -> None:
        """Restart a worker that exited on its own, as production's supervisor (systemd, Kubernetes) does.

        Celery 5.7.0 exits with "Unrecoverable error: AttributeError('NoneType'
        object has no attribute 'hostname')" when the broker's connection drops
        while it holds unacknowledged tasks (docs/reliability.md, "Known
        upstream faults"); what it held is found again by the sweeper.
        """
        while not stop.wait(1.0):
            with self._lock:
                exited = [w for w in self.workers if w is not None and w.poll() is not None and w.pid not in self.retired]
                self.retired.update(w.pid for w in exited)
            for worker in exited:
                self.log(f"worker {worker.pid} exited on its own (code {worker.returncode}); the supervisor starts another")
                self.start_worker()

    def start_beat(self) -> None:
        self.beats.append(self.processes.beat(self.env, name=f"chaos-beat-{len(self.beats)}"))

    def live(self, processes):
        return [p for p in processes if p is not None and p.poll() is None]

    def kill_worker_process(self, rng: random.Random) -> None:
        """SIGKILL a worker: its main process (then start another) or one of its pool children."""
        worker = rng.choice(self.live(self.workers))
        children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
        if children and rng.random() < 0.5:
            subprocess.run(["kill", "-9", rng.choice(children)])
            self.log(f"SIGKILL a pool process of worker {worker.pid}")
        else:
            with self._lock:
                self.retired.add(worker.pid)
            self.processes.stop(worker, sig=9)
            self.log(f"SIGKILL worker {worker.pid}; starting another")
            self.start_worker()

    def restart_beat(self, sig: int) -> None:
        for beat in self.live(self.beats):
            self.processes.stop(beat, sig=sig)
        self.log(f"beat stopped ({'SIGKILL' if sig == 9 else 'SIGTERM'}); starting it again")
        self.start_beat()

    def hang_leader_beat(self, seconds: float) -> None:
        """SIGSTOP the leading beat (a VM pause, a long GC: its database session stays open), SIGCONT it later."""
        if len(self.live(self.beats)) < 2:
            self.log("a standby beat starts beside the leader")
            self.start_beat()
        leader = self.leader_beat()
        os.killpg(leader.pid, signal.SIGSTOP)
        self.log(f"beat hung: SIGSTOP the leader {leader.pid} for {seconds:.0f} s")
        try:
            time.sleep(seconds)
        finally:
            os.killpg(leader.pid, signal.SIGCONT)
        self.log(f"beat {leader.pid} resumed (SIGCONT); the lease is held by beat {self.leader_beat().pid}")

    def leader_beat(self):
        """The live beat holding the leader lease (the first live one if none holds it)."""
        from schedules.selectors import beat_leader

        lease = beat_leader()
        live = self.live(self.beats)
        holder_pid = int(lease.holder.split(":")[1]) if lease and lease.is_live else None
        return next((beat for beat in live if beat.pid == holder_pid), live[0])

    def restart_redis(self) -> None:
        self.processes.stop(self.redis, sig=9)
        self.log("Redis killed: every queued task is gone; starting it again")
        time.sleep(1)
        self.start_redis()


def gateway_config(url: str, **config) -> None:
    httpx.post(f"{url}/_fake/config", json=config, timeout=10).raise_for_status()


def submit_workload(profile: dict, sessions, groups_by_session, rng: random.Random, client=None) -> None:
    """Immediate sends from session A and scheduled ones from session B, through the API (in this process unless `client`)."""
    from django.conf import settings
    from django.utils import timezone

    from core.time import to_ms

    settings.SCHEDULE_MIN_INTERVAL_MS = 1000
    client = client or api_client(sessions[0].account)
    session_a, session_b = sessions
    now_ms = to_ms(timezone.now())
    for i in range(profile["schedules"]):
        groups = rng.sample(groups_by_session[session_b.id], profile["schedule_groups"])
        body = {"session_id": str(session_b.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"chaos-s-{i}",
                "text": f"Scheduled {i}", "schedule": {"first_run_at_ms": now_ms + rng.randint(5_000, 60_000),
                                                       "interval_ms": 20_000, "max_occurrences": profile["occurrences"]}}
        post_with_retry(client, body)
    for i in range(profile["sends"]):
        groups = rng.sample(groups_by_session[session_a.id], profile["groups"])
        post_with_retry(client, {"session_id": str(session_a.id), "group_ids": [str(g.id) for g in groups],
                       "idempotency_key": f"chaos-{i}", "text": f"Immediate {i}"})
        time.sleep(rng.uniform(0.2, 1.5))


def api_client(account):
    """The API in this process (DRF's test client), with a new token of `account`."""
    from rest_framework.test import APIClient

    from core.services.tokens import api_token_create

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=account)[1]}")
    return client


def post_with_retry(client, body) -> dict:
    """Post with the client's own retry: a request that failed mid-chaos is retried with the same key. The 202's body."""
    for _ in range(20):
        try:
            response = client.post("/v2/outbound/sends", body, format="json")
            if response.status_code == 202:
                return response.json()
        except Exception as error:  # the broker may be down for a moment
            print(f"  post failed ({error!r}); retrying", flush=True)
        time.sleep(1)
    raise RuntimeError(f"could not submit {body['idempotency_key']}")


def unleash(stack: Stack, gateway_url: str, session_a, seconds: float, rng: random.Random) -> None:
    """The chaos timeline: every kind of failure at least once, at random moments."""
    from django.conf import settings

    end = time.monotonic() + seconds
    actions = ["worker", "worker", "worker", "beat-term", "beat-kill", "two-beats", "beat-hang", "redis", "session"]
    rng.shuffle(actions)
    gap = seconds / (len(actions) + 1)
    for action in actions:
        time.sleep(rng.uniform(0.5, 1.5) * gap)
        if action == "worker":
            stack.kill_worker_process(rng)
        elif action == "beat-term":
            stack.restart_beat(15)
        elif action == "beat-kill":
            stack.restart_beat(9)
        elif action == "two-beats":
            stack.log("a second beat runs beside the first")
            stack.start_beat()
        elif action == "beat-hang":
            # Longer than the lease: the standby takes over meanwhile.
            stack.hang_leader_beat(settings.SCHEDULE_LEADER_LEASE_SECONDS + 2)
        elif action == "redis":
            stack.restart_redis()
        elif action == "session":
            stack.log(f"session {session_a.name} goes STOPPED on the gateway")
            gateway_config(gateway_url, sessions={session_a.name: "STOPPED"})
            time.sleep(min(10, gap))
            gateway_config(gateway_url, sessions={session_a.name: "WORKING"})
            stack.log(f"session {session_a.name} WORKING again")
    time.sleep(max(0.0, end - time.monotonic()))


def settled() -> bool:
    from outbound.models import Delivery
    from schedules.models import Schedule

    return (
        not Delivery.objects.filter(status__in=Delivery.UNFINISHED).exists()
        and not Schedule.objects.filter(status__in=Schedule.ACTIVE).exists()
    )


def verdict(gateway_url: str) -> dict:
    """Every delivery in the database against what the gateway received."""
    from outbound.models import Delivery
    from schedules.models import Run

    ledger = httpx.get(f"{gateway_url}/_fake/ledger", timeout=60).json()["messages"]
    received = Counter(m["id"] for m in ledger)
    result = Counter()
    failed = Counter()
    for delivery in Delivery.objects.all().iterator():
        copies = [received.get(delivery.gateway_message_id(p), 0) for p in range(delivery.parts_total)]
        result["expected"] += 1
        if any(c > 1 for c in copies):
            result["duplicates"] += 1
        if delivery.status in (Delivery.Status.SENT, Delivery.Status.DELIVERED, Delivery.Status.READ):
            if all(c >= 1 for c in copies):
                result["delivered once"] += 1 if all(c == 1 for c in copies) else 0
            else:
                result["lost"] += 1  # recorded as sent, never received
        elif delivery.status in Delivery.UNSUCCESSFUL:
            failed[delivery.error_code] += 1
            if delivery.unconfirmed:
                result["ambiguous"] += 1
        else:
            result["lost"] += 1  # never finished
    runs = Counter(Run.objects.values_list("status", flat=True))
    return {
        "expected": result["expected"], "delivered once": result["delivered once"], "duplicates": result["duplicates"],
        "lost": result["lost"], "ambiguous": result["ambiguous"], "failed": dict(failed),
        "gateway messages": len(ledger), "runs": dict(runs),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="about a minute (CI)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    profile = PROFILES["short" if args.short else "full"]
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    redis_port, gateway_port = free_port(), free_port()
    env = bench_env(
        database=os.environ.get("BENCH_DATABASE", "outbound_chaos"),
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        WAHA_BASE_URL=f"http://127.0.0.1:{gateway_port}",
        WAHA_TIMEOUT_SECONDS=3, OUTBOUND_SEND_LEASE_SECONDS=12,
        OUTBOUND_RETRY_BASE_SECONDS=0.5, OUTBOUND_RETRY_MAX_SECONDS=5,
        OUTBOUND_SWEEP_SECONDS=3, OUTBOUND_SWEEP_STALE_SECONDS=10, OUTBOUND_SESSION_REFRESH_SECONDS=3,
        CELERY_VISIBILITY_TIMEOUT=60, SCHEDULE_POLL_SECONDS=0.5, LOG_LEVEL="INFO",
    )
    django_setup(env)
    database_reset(env)
    print(f"Chaos ({'short' if args.short else 'full'}), seed {seed}", flush=True)

    sessions, groups_by_session = chaos_accounts(profile)
    stack = Stack(env, redis_port)
    stack.start_redis()
    stack.processes.gateway(env, gateway_port)
    gateway_config(env["WAHA_BASE_URL"], error_rate=0.15, accept_then_fail_rate=0.05, latency_ms=30, seed=seed)
    stack.start_worker()
    stack.start_worker()
    stack.start_beat()

    supervising = threading.Event()
    threading.Thread(target=stack.supervise, args=(supervising,), daemon=True).start()
    started = time.monotonic()
    chaos = threading.Thread(target=unleash, args=(stack, env["WAHA_BASE_URL"], sessions[0], profile["chaos_seconds"], rng))
    chaos.start()
    submit_workload(profile, sessions, groups_by_session, rng)
    chaos.join()
    stack.log("chaos over; the gateway stops failing; waiting for everything to settle")
    gateway_config(env["WAHA_BASE_URL"], error_rate=0, accept_then_fail_rate=0, latency_ms=0)
    deadline = time.monotonic() + args.settle_timeout
    while not settled() and time.monotonic() < deadline:
        time.sleep(2)
    elapsed = time.monotonic() - started
    result = verdict(env["WAHA_BASE_URL"])
    supervising.set()
    stack.processes.stop_all()

    result.update({"seed": seed, "seconds": round(elapsed, 1), "settled": settled(), "events": stack.events})
    print()
    print(f"Machine: {machine()}")
    print(f"Seed {seed}; {len(stack.events)} chaos events; settled: {result['settled']}; {elapsed:.0f} s")
    rows = [[result["expected"], result["delivered once"], result["duplicates"], result["lost"], result["ambiguous"],
             ", ".join(f"{code or '?'}: {n}" for code, n in result["failed"].items()) or "0", result["gateway messages"]]]
    print(table(["deliveries expected", "delivered once", "duplicates", "lost", "ambiguous", "failed (reason: n)",
                 "gateway messages"], rows))
    print("Runs: " + ", ".join(f"{status}: {n}" for status, n in result["runs"].items()))
    print("Events:\n  " + "\n  ".join(stack.events))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


def chaos_accounts(profile: dict):
    """Two unpaced WORKING sessions (A: immediate sends, B: schedules) and their groups."""
    from core.models import Account
    from outbound.models import Group, Session

    account = Account.objects.create(name="Chaos")
    sessions, groups_by_session = [], {}
    for label in ("a", "b"):
        session = Session.objects.create(account=account, name=f"chaos-{label}-{uuid.uuid4().hex[:6]}", status="WORKING",
                                         messages_per_minute=None, send_delay_max_ms=0)
        count = profile["groups"] if label == "a" else profile["schedule_groups"]
        groups = Group.objects.bulk_create(
            [Group(account=account, chat_id=f"1203631{ord(label):03d}{i:08d}@g.us", name=f"{label}{i}") for i in range(count)]
        )
        session.groups.add(*groups)
        sessions.append(session)
        groups_by_session[session.id] = groups
    return sessions, groups_by_session


if __name__ == "__main__":
    main()
