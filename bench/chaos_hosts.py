"""Chaos across hosts: the service on several hosts (bin/hosts), one failure per scenario, every message counted.

    bin/chaos --hosts                    # every scenario, the long form
    bin/chaos --hosts --short            # the CI form: fewer messages, shorter faults
    bin/chaos --hosts --scenarios redis-failover,postgres-failover --json result.json

Each scenario gets a new world (bin/hosts up: PostgreSQL primary and
streaming standby, Redis primary and replica under three Sentinels), a
migrated database, the fake gateway on oc-gw, and on each of oc-app1 and
oc-app2 the Procfile's three processes: web (bin/web: HAProxy and gunicorn),
a worker and a beat (one leads, one stands by). The app hosts reach
PostgreSQL through a libpq multi-host string (target_session_attrs=read-write)
and Redis through Sentinel, as docs/operations.md tells an operator to. The
driver, on this machine, submits immediate and scheduled sends over HTTP to
the app hosts' web processes, as a client behind a load balancer would (the
next host when one does not answer, the same idempotency key on a retry),
while the scenario's failure happens; then it waits for everything to settle
and checks every delivery in the database against the gateway's ledger.

Figures per scenario: deliveries expected, delivered once, duplicates,
lost, ambiguous (unconfirmed), late_s (the latest fire after its due time,
on the firing worker's clock) and recover_s (the longest time, from the
failure on, in which the gateway received nothing while work was waiting).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import httpx

from bench.common import ROOT, Processes, bench_env, machine, table

DATA1, DATA2, GATEWAY = "10.77.0.11", "10.77.0.12", "10.77.0.31"
APP_ADDRESSES = {"app1": "10.77.0.21", "app2": "10.77.0.22"}
WEB_PORT = 8000
WORLD = os.environ.get("HOSTS_DIR", "/tmp/outbound-hosts")
GATEWAY_PORT = 3000
SCENARIOS = ["leader-cut", "leader-kill", "leader-stop", "redis-failover", "postgres-failover", "worker-host-cut", "clock-skew"]
PROFILES = {
    # per scenario: immediate sends x groups, schedules x occurrences x groups, seconds a cut or a pause lasts
    # an immediate send to `groups` groups every `send_every_s` from before the failure until `after_s` past its end
    "full": {"groups": 60, "send_every_s": 0.5, "after_s": 15, "schedules": 4, "occurrences": 3, "schedule_groups": 30,
             "fault_seconds": 30},
    "short": {"groups": 20, "send_every_s": 0.5, "after_s": 10, "schedules": 2, "occurrences": 2, "schedule_groups": 10,
              "fault_seconds": 12},
}
SHORT_SCENARIOS = ["leader-kill", "redis-failover", "postgres-failover"]


def hosts(*args: str) -> str:
    return subprocess.run([str(ROOT / "bin/hosts"), *args], check=True, capture_output=True, text=True, timeout=180).stdout


def world_env(clock_offset: str | None = None) -> dict:
    return bench_env(
        DATABASE_URL=f"postgres://postgres@{DATA1},{DATA2}:5432/outbound?target_session_attrs=read-write&connect_timeout=3",
        CELERY_BROKER_URL=";".join(f"sentinel://{host}:26379" for host in (DATA1, DATA2, GATEWAY)),
        CELERY_BROKER_MASTER_NAME="outbound",
        CELERY_TASK_DEFAULT_QUEUE="chaos",
        WAHA_BASE_URL=f"http://{GATEWAY}:{GATEWAY_PORT}",
        WAHA_TIMEOUT_SECONDS=3, OUTBOUND_SEND_LEASE_SECONDS=12,
        OUTBOUND_RETRY_BASE_SECONDS=0.5, OUTBOUND_RETRY_MAX_SECONDS=5,
        OUTBOUND_SWEEP_SECONDS=3, OUTBOUND_SWEEP_STALE_SECONDS=10, OUTBOUND_SESSION_REFRESH_SECONDS=3,
        CELERY_VISIBILITY_TIMEOUT=60, SCHEDULE_POLL_SECONDS=0.5, LOG_LEVEL="INFO",
        CLOCK_FOLLOWS_DATABASE=1,  # as in production (tests turn it off for their frozen clock)
        DJANGO_ALLOWED_HOSTS=",".join(APP_ADDRESSES.values()),
        SCHEDULE_MIN_INTERVAL_MS=1000,  # the ticker schedule fires every second
    )


class World:
    """A new world of hosts, a migrated database, and the service's processes on the app hosts."""

    def __init__(self, profile: dict):
        self.profile, self.processes, self.events = profile, Processes(), []
        self.env = world_env()
        self.beats: dict[str, subprocess.Popen] = {}
        self.workers: dict[str, subprocess.Popen] = {}
        self.webs: dict[str, subprocess.Popen] = {}

    def log(self, what: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"  hosts: {what}", flush=True)

    def up(self) -> None:
        hosts("up")
        import psycopg2

        admin = psycopg2.connect(host=DATA1, user="postgres", dbname="postgres")
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE outbound")
        admin.close()
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.processes.start("hosts-gateway", netns("gw", sys.executable, "manage.py", "run_fake_gateway", "--host", GATEWAY,
                                                     "--port", str(GATEWAY_PORT)), self.env, ready="listening")
        for host in ("app1", "app2"):
            self.start_app_host(host, self.env)
        self.app_hosts_answer()

    def start_app_host(self, host: str, env: dict, prefix: tuple = ()) -> None:
        """The Procfile's web, worker and beat on `host` (under `prefix`, e.g. faketime)."""
        web_env = {**env, "PORT": str(WEB_PORT), "WEB_BIND_HOST": APP_ADDRESSES[host], "WEB_CONCURRENCY": "2",
                   "VAR_DIR": f"{WORLD}/{host}-var",
                   "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"}
        self.webs[host] = self.processes.start(f"hosts-{host}-web", netns(host, *prefix, "bin/web"), web_env,
                                               ready="Booting worker")
        self.workers[host] = self.processes.start(
            f"hosts-{host}-worker",
            netns(host, *prefix, sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", "2",
                  "-n", f"{host}@%h", "--without-mingle", "--without-gossip", "--without-heartbeat"),
            env, ready="ready.",
        )
        self.beats[host] = self.processes.start(
            f"hosts-{host}-beat",
            netns(host, *prefix, sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--pidfile=",
                  "-s", f"{WORLD}/{host}-beat-schedule"),
            env, ready="beat: Starting",
        )

    def app_hosts_answer(self, timeout: float = 60) -> None:
        """Until every app host's web process answers /healthz from this machine."""
        deadline = time.monotonic() + timeout
        for address in APP_ADDRESSES.values():
            while True:
                try:
                    if httpx.get(f"http://{address}:{WEB_PORT}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the web process at {address} does not answer")
                time.sleep(0.2)

    def leader_host(self) -> str:
        """The app host whose beat holds the lease (holder is host:pid:random)."""
        from schedules.selectors import beat_leader

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lease = beat_leader()
            if lease and lease.is_live:
                pid = int(lease.holder.split(":")[1])
                for host, beat in self.beats.items():
                    if beat.pid == pid:
                        return host
            time.sleep(0.2)
        raise RuntimeError("no beat leads")

    def down(self) -> None:
        self.processes.stop_all()
        from django.db import connections

        connections.close_all()
        hosts("down")


def netns(host: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", f"oc-{host}", *argv]


def fault(world: World, scenario: str) -> None:
    """The scenario's failure, as an operator would meet it; returns when the failure is over (or was repaired)."""
    seconds = world.profile["fault_seconds"]
    if scenario == "leader-cut":
        host = world.leader_host()
        world.log(f"cut off {host}, the beat leader's host, for {seconds} s")
        hosts("cut", host)
        time.sleep(seconds)
        hosts("heal", host)
        world.log(f"{host} healed")
    elif scenario == "leader-kill":
        host = world.leader_host()
        world.log(f"SIGKILL the beat leader on {host}")
        os.kill(world.beats[host].pid, signal.SIGKILL)
    elif scenario == "leader-stop":
        host = world.leader_host()
        world.log(f"SIGSTOP the beat leader on {host} for {seconds} s")
        os.kill(world.beats[host].pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(world.beats[host].pid, signal.SIGCONT)
        world.log("resumed (SIGCONT)")
    elif scenario == "redis-failover":
        world.log("SIGKILL the Redis primary on data1; Sentinel promotes the replica")
        with open(f"{WORLD}/data1/redis.pid") as pid:
            os.kill(int(pid.read()), signal.SIGKILL)
    elif scenario == "postgres-failover":
        world.log("the PostgreSQL primary on data1 dies (immediate stop)")
        pg_ctl("data1", "stop", "-m", "immediate")
        time.sleep(2)  # an operator's (or Patroni's) detection
        pg_ctl("data2", "promote", "-w")
        world.log("data2 promoted")
    elif scenario == "worker-host-cut":
        world.log(f"cut off app2 (a worker mid-batch) for {seconds} s")
        hosts("cut", "app2")
        time.sleep(seconds)
        hosts("heal", "app2")
        world.log("app2 healed")
    elif scenario == "clock-skew":
        pass  # set up before the workload: app2 runs 30 s ahead (see run_scenario)
    else:
        raise ValueError(scenario)


def pg_ctl(host: str, *args: str) -> None:
    pg_bin = sorted(p for p in os.listdir("/usr/lib/postgresql"))[-1]
    hosts("exec", host, "runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{pg_bin}/bin/pg_ctl",
          "-D", f"{WORLD}/{host}/pg", *args)


class AppHostsApi:
    """The API over HTTP through the app hosts' web processes, the way a client behind a load balancer sees it.

    Requests go to the hosts in turn; one that does not answer (cut off,
    its web process down) is skipped for the next. Answers are httpx
    responses, so bench.chaos.post_with_retry retries them with the same
    idempotency key like any client.
    """

    def __init__(self, account):
        from core.services.tokens import api_token_create

        self.headers = {"Authorization": f"Bearer {api_token_create(account=account)[1]}"}
        self.urls = [f"http://{address}:{WEB_PORT}" for address in APP_ADDRESSES.values()]
        self.turn = 0
        self.failovers = 0  # requests a host did not answer, sent on to the next

    def post(self, path: str, body: dict, format: str = "json") -> httpx.Response:
        error = None
        for _ in self.urls:
            url = self.urls[self.turn % len(self.urls)]
            self.turn += 1
            try:
                return httpx.post(url + path, json=body, headers=self.headers, timeout=5)
            except httpx.HTTPError as failed:
                error = failed
                self.failovers += 1
        raise error


def ticker_schedule(session, groups_by_session, profile: dict) -> None:
    """A schedule due every second from just before the failure to past its end: how late does any occurrence fire?"""
    from django.utils import timezone

    from bench.chaos import post_with_retry

    client = AppHostsApi(session.account)
    seconds = 4 + profile["fault_seconds"] + profile["after_s"]
    post_with_retry(client, {
        "session_id": str(session.id), "group_ids": [str(group.id) for group in groups_by_session[session.id][:2]],
        "idempotency_key": "hosts-ticker", "text": "Tick",
        "schedule": {"first_run_at_ms": int(timezone.now().timestamp() * 1000) + 2000, "interval_ms": 1000,
                     "max_occurrences": seconds},
    })


def immediate_sends(client, session, groups_by_session, profile: dict, stop, accepted: list) -> None:
    """Immediate sends from `session`, one every send_every_s, until `stop`: work waits all through the failure."""
    from django.db import connections

    from bench.chaos import post_with_retry

    group_ids = [str(group.id) for group in groups_by_session[session.id][: profile["groups"]]]
    number = 0
    while not stop.wait(profile["send_every_s"]):
        body = post_with_retry(client, {"session_id": str(session.id), "group_ids": group_ids,
                                        "idempotency_key": f"hosts-{number}", "text": f"Immediate {number}"})
        accepted.append(body["send"]["send_id"])
        number += 1
    connections.close_all()


def fire_lateness(gateway_url: str) -> list[float]:
    """Per fired occurrence: its first message at the gateway minus its due time, on the gateway host's clock.

    Not Run.started_at, which is the firing worker's clock: in the clock-skew
    scenario that one is wrong by the skew, and what matters is when the
    message went out.
    """
    from outbound.models import Delivery
    from schedules.models import Run

    received = {m["id"]: m["received_at_ms"] / 1000 for m in httpx.get(f"{gateway_url}/_fake/ledger", timeout=60).json()["messages"]}
    first_by_send: dict = {}
    for delivery in Delivery.objects.filter(send__run__isnull=False).only("id", "send_id", "parts_total"):
        for part in range(delivery.parts_total):
            at = received.get(delivery.gateway_message_id(part))
            if at is not None:
                first_by_send[delivery.send_id] = min(at, first_by_send.get(delivery.send_id, at))
    return [first_by_send[run.send_id] - run.due_at.timestamp()
            for run in Run.objects.filter(send__isnull=False).only("send_id", "due_at") if run.send_id in first_by_send]


def ledger_times(gateway_url: str) -> list[float]:
    messages = httpx.get(f"{gateway_url}/_fake/ledger", timeout=60).json()["messages"]
    return sorted(m["received_at_ms"] / 1000 for m in messages)


def longest_gap(times: list[float], since: float, until: float) -> float:
    """The longest stretch in [since, until] with nothing received."""
    points = [since, *[t for t in times if since <= t <= until], until]
    return max((b - a for a, b in zip(points, points[1:])), default=0.0)


def run_scenario(scenario: str, profile: dict, settle_timeout: float) -> dict:
    """One scenario in a world of its own (this process is the driver)."""
    import random
    import threading

    from bench.chaos import chaos_accounts, settled, submit_workload, verdict
    from bench.common import django_setup

    world = World(profile)
    os.environ.update(world.env)
    django_setup(world.env)
    world.up()
    try:
        if scenario == "clock-skew":
            # app2's worker and beat run 30 s ahead (libfaketime): no decision may follow its clock.
            for process in (world.webs["app2"], world.workers["app2"], world.beats["app2"]):
                world.processes.stop(process)
            world.start_app_host("app2", world.env, prefix=("faketime", "-f", "+30s"))
            world.app_hosts_answer()
            world.log("app2's web, worker and beat restarted 30 s ahead of the other hosts")
        sessions, groups_by_session = chaos_accounts(profile)
        rng = random.Random(1)
        gateway_url = world.env["WAHA_BASE_URL"]
        submit_workload({**profile, "sends": 0}, sessions, groups_by_session, rng,  # the schedules
                        client=AppHostsApi(sessions[0].account))
        ticker_schedule(sessions[1], groups_by_session, profile)
        stop, accepted = threading.Event(), []
        client = AppHostsApi(sessions[0].account)
        submitter = threading.Thread(target=immediate_sends, args=(client, sessions[0], groups_by_session, profile, stop, accepted))
        submitter.start()
        time.sleep(4)  # work in flight before the failure
        fault_started = time.time()
        fault(world, scenario)
        fault_over = time.time()
        time.sleep(profile["after_s"])
        stop.set()
        submitter.join()
        submitted_until = time.time()
        deadline = time.monotonic() + settle_timeout
        while time.monotonic() < deadline:
            try:
                if settled():
                    break
            except Exception as error:  # the database may still be failing over
                print(f"  settle check failed ({error!r})", flush=True)
                from django.db import connections

                connections.close_all()
            time.sleep(2)
        result = verdict(gateway_url)
        times = ledger_times(gateway_url)
        lateness = fire_lateness(gateway_url)
        from outbound.models import Send

        # A send answered 202 must exist after any failover (the database's replication mode decides).
        result["accepted_lost"] = len(set(accepted) - {str(pk) for pk in Send.objects.values_list("id", flat=True)})
        result["lost"] += result["accepted_lost"]
        result.update({
            "scenario": scenario, "settled": settled(), "fires": len(lateness),
            "late_s": round(max(lateness, default=0.0), 2), "early_s": round(max([-x for x in lateness] + [0.0]), 2),
            # Sends kept coming all along: a long gap is the service not delivering what waited.
            "recover_s": round(longest_gap(times, fault_started, submitted_until), 2),
            "fault_s": round(fault_over - fault_started, 1), "events": world.events,
            "accepted": len(accepted), "api_failovers": client.failovers,
        })
        return result
    finally:
        world.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", action="store_true", help="(how bin/chaos chose this suite)")
    parser.add_argument("--short", action="store_true", help="the CI form")
    parser.add_argument("--scenarios", help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--settle-timeout", type=float, default=240)
    parser.add_argument("--json", help="also write the results here, one object per scenario")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single scenario, in this process (the parent runs each so)
    args = parser.parse_args()
    profile = PROFILES["short" if args.short else "full"]
    if args.one:
        print(json.dumps(run_scenario(args.one, profile, args.settle_timeout)), file=sys.stdout, flush=True)
        return
    scenarios = args.scenarios.split(",") if args.scenarios else (SHORT_SCENARIOS if args.short else SCENARIOS)
    results = []
    for scenario in scenarios:
        print(f"== {scenario}", flush=True)
        # Each in a process of its own: a driver that lived through a failover keeps nothing into the next world.
        argv = [sys.executable, "-m", "bench.chaos_hosts", "--one", scenario, "--settle-timeout", str(args.settle_timeout)]
        out = subprocess.run(argv + (["--short"] if args.short else []), cwd=ROOT, capture_output=True, text=True)
        sys.stderr.write(out.stderr[-4000:] if out.returncode else "")
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(out.stdout[-3000:], flush=True)
            results.append({"scenario": scenario, "error": f"driver exited {out.returncode}"})
            continue
        results.append(json.loads(lines[-1]))
        print("\n".join(line for line in out.stdout.splitlines() if not line.startswith("{")), flush=True)
    print()
    print(f"Machine: {machine()}")
    columns = ["scenario", "expected", "delivered once", "duplicates", "lost", "ambiguous", "fires", "late_s", "early_s",
               "recover_s", "accepted", "api_failovers", "settled"]
    print(table(columns, [[result.get(column, result.get("error", "")) for column in columns] for result in results]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    bad = [r for r in results if "error" in r or r.get("duplicates") or r.get("lost") or not r.get("settled")]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
