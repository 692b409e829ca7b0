"""The API's own CPU per request, in one process: no gunicorn, no load generator, no other process.

On a shared machine the figures under gunicorn swing by 30% from one hour to
the next; this one swings far less, so it is the one to compare two
versions of the code with (run it on each, alternating), and the process to
profile: `py-spy record -- python -m bench.inprocess ...`.

The WSGI application (config.wsgi, the shedder included) is called directly
with real requests against the real PostgreSQL and Redis: create-send to
each --groups, and the bare view (GET /healthz) as the floor, measured in
the same process.

With --paced N it also measures what a worker spends on one paced delivery
(a session with messages_per_minute): the attempt that reserves its send
slot and puts it back on the queue, then the attempt at the slot that sends
it to the fake gateway (started here) and records it, as two Celery tasks
would, without Celery.

    bin/bench inprocess [--groups 10,100] [--requests 300] [--paced 300]
"""

import argparse
import io
import socket
import json
import sys
import time
import uuid

from bench.common import Processes, bench_env, database_reset, django_setup, machine, table
from bench.fixtures import bench_fixture

HEADERS = ["request", "groups", "requests", "CPU ms/req", "x bare", "wall ms/req"]
WARM_UP = 20


def wsgi_call(application, method: str, path: str, token: str = "", body: dict | None = None) -> str:
    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    b"".join(application(environ, start_response))
    return answer["status"]


def measure(call, requests: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per request, after a warm-up."""
    for _ in range(WARM_UP):
        call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        call()
    return (time.process_time() - cpu) * 1000 / requests, (time.perf_counter() - wall) * 1000 / requests


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per row")
    parser.add_argument("--paced", type=int, default=0, help="measured paced deliveries (0: no such row)")
    args = parser.parse_args(argv)
    gateway_port = _free_port()
    # Sends are only queued (no Celery worker runs); --paced attempts its deliveries here.
    env = bench_env(WAHA_BASE_URL=f"http://127.0.0.1:{gateway_port}")
    if args.paced:
        Processes().gateway(env, gateway_port)
    django_setup(env)
    print(machine())
    database_reset(env)
    fixture = bench_fixture(max(args.groups))
    from config.wsgi import application

    def bare():
        assert wsgi_call(application, "GET", "/healthz").startswith("200")

    def create(groups):
        body = {"session_id": fixture.session_id, "group_ids": fixture.group_ids[:groups],
                "idempotency_key": uuid.uuid4().hex, "text": "bench"}
        status = wsgi_call(application, "POST", "/v2/outbound/sends", fixture.token, body)
        assert status.startswith("202"), status

    floor, floor_wall = measure(bare, args.requests)
    rows = [["GET /healthz (bare)", "-", args.requests, floor, 1.0, floor_wall]]
    for groups in args.groups:
        cpu, wall = measure(lambda: create(groups), args.requests)
        rows.append(["POST /v2/outbound/sends", groups, args.requests, cpu, cpu / floor, wall])
    if args.paced:
        cpu, wall = _paced_measure(fixture, args.paced, create)
        rows.append(["paced delivery (reserve, then send)", 1, args.paced, cpu, cpu / floor, wall])
    print(table(HEADERS, rows))
    print("\nOne process calls the WSGI application directly; CPU is that process's (time.process_time), wall"
          "\nincludes waiting for PostgreSQL and Redis. The sends' deliveries are queued, never delivered.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _paced_measure(fixture, deliveries: int, create) -> tuple[float, float]:
    """(CPU ms, wall ms) per paced delivery: both attempts a worker makes, waiting for the slot not counted."""
    from outbound.models import Delivery, Session
    from outbound.services.deliveries import delivery_attempt

    # Slots 10 ms apart: each delivery's first attempt finds its slot just ahead.
    Session.objects.filter(pk=fixture.session_id).update(messages_per_minute=6000, send_delay_max_ms=0)
    before = set(Delivery.objects.values_list("pk", flat=True))
    for _ in range(deliveries + WARM_UP):
        create(1)
    ids = list(Delivery.objects.exclude(pk__in=before).order_by("created_at").values_list("pk", flat=True))
    cpu = wall = 0.0
    for index, delivery_id in enumerate(ids):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        retry = delivery_attempt(delivery_id=delivery_id)
        taken_cpu, taken_wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
        if retry is not None:  # the slot is ahead: the task would come back then
            time.sleep(max(0.0, (retry.when - _now()).total_seconds()))
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            again = delivery_attempt(delivery_id=delivery_id)
            taken_cpu += time.process_time() - started_cpu
            taken_wall += time.perf_counter() - started_wall
            assert again is None, again
        if index >= WARM_UP:
            cpu, wall = cpu + taken_cpu, wall + taken_wall
    sent = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.SENT).count()
    assert sent == len(ids), f"{sent} of {len(ids)} sent"
    return cpu * 1000 / deliveries, wall * 1000 / deliveries


def _now():
    """The service's clock (which follows the database's), as the claim reads it; plain time on older commits."""
    try:
        from outbound import clock
    except ImportError:
        from django.utils import timezone as clock
    return clock.now()


if __name__ == "__main__":
    main()
