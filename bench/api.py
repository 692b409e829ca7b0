"""The API under gunicorn at fixed request rates, each row beside a bare view served by the same server.

Targets (issue 11): create-send with 10 groups p99 <= 100 ms at 100 req/s and
>= 200 req/s before saturation; with 100 groups >= 60 req/s and p99 <= 250 ms
at 50 req/s; an authenticated request's fixed cost <= 2 ms of CPU; at twice
the saturation rate, accepted requests keep p99 <= 1 s and the rest are
refused in milliseconds, and nothing accepted is lost.

Runs the service as deployed on this machine: the Procfile's web process
(bin/web: HAProxy with its queue limit in front of gunicorn's sync workers,
access log on), an optional Celery worker and the fake gateway. Per rate, three endpoints:
- bare: GET /healthz, a DRF view with no credential and no database: the
  floor of this server on this machine, measured in the same run;
- trivial: GET /v2/sessions, token auth, rate limit and one small query: the
  fixed cost of an authenticated request is trivial minus bare;
- create: POST /v2/outbound/sends to --groups groups.
Then create with --big-groups, and an overload row at twice the best rate
create reached (or --overload-rate). CPU is per answered request: the web
process (gunicorn, the API's own work, and HAProxy) and PostgreSQL.

Load is open loop: request i is due at i/rate whatever happened before
(a slow server is not allowed to slow the load down), and latency counts from
when it was due. The generator is a separate process (asyncio, raw HTTP/1.1,
one connection per request as gunicorn's sync workers close it anyway); its
own lag and CPU are reported to show it is not the bottleneck. Each POST
has a unique idempotency_key; after an overload row, the accepted ones are
counted in the database (nothing accepted may be lost). Every row gets a
fresh, warmed-up web process and an empty queue: an overloaded row leaves
requests in HAProxy's queue and sends in the Celery queue, which would otherwise
eat the next row's CPU.

    bin/bench api [--rates 50,100,200] [--duration 15] [--groups 10] [--big-groups 100 --big-rates 50,60]
                  [--worker-concurrency 0] [--overload-rate R]
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

from bench.common import Processes, bench_env, database_reset, django_setup, machine, percentile, redis_flush_queue, table
from bench.cpu import CpuMeter, free_port, pids_named, process_tree
from bench.fixtures import bench_fixture

TARGET_P99_MS, TARGET_RATE = 100, 100
ENDPOINTS = {
    "bare": ("GET", "/healthz"),
    "trivial": ("GET", "/v2/sessions"),
    "create": ("POST", "/v2/outbound/sends"),
}
HEADERS = [
    "endpoint", "groups", "target req/s", "sent req/s", "2xx req/s", "p50 ms", "p99 ms", "p99 2xx ms", "refused",
    "p99 refused ms", "errors", "lost", "web CPU ms/req", "x bare", "postgres CPU ms/req", "gen lag p99 ms",
    "gen CPU %", "machine busy %",
]


# -- the load generator (runs in its own process: python -m bench.api --generate < spec) --------


def raw_request(spec: dict, index: int) -> bytes:
    body = spec["body"].replace("{key}", f"{spec['key_prefix']}-{index}").encode() if spec["body"] else b""
    head = (
        f"{spec['method']} {spec['path']} HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n"
        f"Authorization: Bearer {spec['token']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def one_request(spec: dict, index: int, due: float) -> list:
    """[due offset s, latency ms from due, HTTP status (0 = no answer), lag ms of the start behind due]."""
    loop = asyncio.get_running_loop()
    lag, status, writer = (loop.time() - due) * 1000, 0, None
    try:
        async with asyncio.timeout(spec["timeout"]):
            reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
            writer.write(raw_request(spec, index))
            status_line = await reader.readline()
            await reader.read()  # to EOF: Connection: close
            status = int(status_line.split()[1])
    except (OSError, TimeoutError, ValueError, IndexError):
        pass
    finally:
        if writer:
            writer.close()
    return [due - spec["t0"], (loop.time() - due) * 1000, status, lag]


async def generate(spec: dict) -> dict:
    loop = asyncio.get_running_loop()
    total = int(spec["rate"] * spec["duration"])
    spec["t0"] = start = loop.time() + 0.05
    cpu0, tasks = time.process_time(), []
    for index in range(total):
        due = start + index / spec["rate"]
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(one_request(spec, index, due)))
    sent_window = loop.time() - start
    results = await asyncio.gather(*tasks)
    wall = loop.time() - start
    return {"results": results, "sent_window": sent_window, "wall": wall, "cpu": time.process_time() - cpu0}


def generator_main() -> None:
    print(json.dumps(asyncio.run(generate(json.load(sys.stdin)))))


# -- the driver ---------------------------------------------------------------------------------


def start_gunicorn(processes: Processes, env: dict, port: int, workers: int):
    return processes.web(env, port, name="api-gunicorn", workers=workers, access_log="-")


def load_spec(args, fixture, port: int, endpoint: str, groups: int, rate: float) -> dict:
    method, path = ENDPOINTS[endpoint]
    spec = {"host": "127.0.0.1", "port": port, "token": fixture.token, "rate": rate, "duration": args.duration,
            "timeout": args.timeout, "key_prefix": uuid.uuid4().hex, "method": method, "path": path, "body": ""}
    if endpoint == "create":
        body = {"session_id": fixture.session_id, "group_ids": fixture.group_ids[:groups], "idempotency_key": "{key}",
                "text": "bench"}
        spec["body"] = json.dumps(body)
    return spec


def run_generator(spec: dict, env: dict) -> dict:
    """Run one load in its own process, so its CPU is not the server's and vice versa."""
    done = subprocess.run([sys.executable, "-m", "bench.api", "--generate"], input=json.dumps(spec), capture_output=True,
                          env=env, text=True)
    if done.returncode:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def accepted_in_database(key_prefix: str) -> int:
    from outbound.models import IdempotencyKey

    return IdempotencyKey.objects.filter(key__startswith=f"{key_prefix}-").count()


def measure_row(args, env, fixture, port, procs, endpoint: str, groups: int, rate: float, label: str = "") -> dict:
    redis_flush_queue(env)  # the previous row's delivery backlog must not compete with this row
    gunicorn, worker = procs
    meter = CpuMeter(
        gunicorn=lambda: process_tree(gunicorn.pid),
        worker=lambda: process_tree(worker.pid) if worker else [],
        postgres=lambda: pids_named("postgres"),
    )
    spec = load_spec(args, fixture, port, endpoint, groups, rate)
    load = run_generator(spec, env)
    cpu = meter.result()
    results = load["results"]
    # Every request counts, answered or not: one that timed out counts as its timeout, so an
    # overloaded row cannot look fast by dropping its slowest requests.
    ok = [r for r in results if 200 <= r[2] < 300]
    refused = [r for r in results if r[2] in (429, 503)]
    answered = len(ok) + len(refused)
    last_done = max((r[0] + r[1] / 1000 for r in ok), default=float("nan"))
    method, path = ENDPOINTS[endpoint]
    return {
        "endpoint": f"{method} {path}" + (f" ({label})" if label else f" ({endpoint})" if endpoint != "create" else ""),
        "kind": endpoint, "groups": groups if endpoint == "create" else "-", "rate": rate, "overload": bool(label),
        "sent": (len(results) - 1) / load["sent_window"] if load["sent_window"] else float("nan"),  # n starts span n-1 gaps
        "done": len(ok) / last_done if ok else 0.0,
        "p50": percentile([r[1] for r in results], 50), "p99": percentile([r[1] for r in results], 99),
        "p99_ok": percentile([r[1] for r in ok], 99), "refused": len(refused),
        "p99_refused": percentile([r[1] for r in refused], 99),
        "errors": len(results) - answered,
        "lost": len(ok) - accepted_in_database(spec["key_prefix"]) if endpoint == "create" else "-",
        "cpu_ms": 1000 * cpu["seconds"]["gunicorn"] / answered if answered else float("nan"),
        "pg_ms": 1000 * cpu["seconds"]["postgres"] / answered if answered else float("nan"),
        "lag_p99": percentile([r[3] for r in results], 99), "gen_cpu": 100 * load["cpu"] / load["wall"], "cpu": cpu,
    }


def row(r: dict, bare_ms: dict) -> list:
    floor = bare_ms.get(r["rate"])
    return [r["endpoint"], r["groups"], r["rate"], r["sent"], r["done"], r["p50"], r["p99"], r["p99_ok"], r["refused"],
            r["p99_refused"], r["errors"], r["lost"], r["cpu_ms"], r["cpu_ms"] / floor if floor else "-", r["pg_ms"],
            r["lag_p99"], r["gen_cpu"], r["cpu"]["machine busy"]]


def warm_up(args, env, fixture, port) -> None:
    """A few requests of each kind so every gunicorn worker has loaded the URLconf, DRF and its DB connection."""
    for endpoint in ENDPOINTS:
        spec = {**load_spec(args, fixture, port, endpoint, args.groups, 20), "duration": 1.5}
        run_generator(spec, env)


def plan(args) -> list[tuple[str, int, float]]:
    rows = []
    for rate in args.rates:
        rows += [("bare", 0, rate), ("trivial", 0, rate), ("create", args.groups, rate)]
    if args.big_groups:
        rows += [("create", args.big_groups, rate) for rate in args.big_rates]
    return rows


def report(results: list[dict], workers: int, groups: int, big_groups: int) -> None:
    bare_ms = {r["rate"]: r["cpu_ms"] for r in results if r["kind"] == "bare"}
    print(table(HEADERS, [row(r, bare_ms) for r in results]))
    print(f"\n{workers} gunicorn sync workers behind HAProxy. sent = the generator's achieved rate; 2xx req/s = accepted answers per"
          "\nsecond until the last one; latency counts from when a request was due; refused = 503 overloaded or 429;"
          "\nerrors = anything else, or no answer within the timeout (counted at the timeout); lost = accepted (202)"
          "\nbut not in the database. CPU ms/req = CPU of the group over the row / answered requests; x bare = the"
          "\nsame over the bare view's at the same rate. gen = the load generator.")
    trivial = [r for r in results if r["kind"] == "trivial" and r["rate"] in bare_ms]
    if trivial:
        fixed = min(r["cpu_ms"] - bare_ms[r["rate"]] for r in trivial)
        print(f"\nFixed cost of an authenticated request (trivial - bare, CPU): {fixed:.2f} ms (target <= 2 ms).")
    creates = [r for r in results if r["kind"] == "create" and not r["overload"]]
    at_target = next((r for r in creates if r["groups"] == groups and r["rate"] == TARGET_RATE), None)
    if at_target:
        met = at_target["p99"] <= TARGET_P99_MS and at_target["errors"] == 0 and at_target["refused"] == 0
        print(f"Create-send p99 <= {TARGET_P99_MS} ms at {TARGET_RATE} req/s ({groups} groups): "
              f"{'met' if met else 'NOT met'} (p99 {at_target['p99']:.0f} ms, {at_target['refused']} refused, "
              f"{at_target['errors']} errors).")
    big_at_50 = next((r for r in creates if r["groups"] == big_groups and r["rate"] == 50), None)
    if big_at_50:
        met = big_at_50["p99"] <= 250 and big_at_50["errors"] == 0 and big_at_50["refused"] == 0
        print(f"Create-send p99 <= 250 ms at 50 req/s ({big_groups} groups): {'met' if met else 'NOT met'} "
              f"(p99 {big_at_50['p99']:.0f} ms, {big_at_50['refused']} refused, {big_at_50['errors']} errors).")
    for size, target in ((groups, 200), (big_groups, 60)):
        rows = [r for r in results if r["kind"] == "create" and r["groups"] == size]  # the overload row too
        if rows and size:
            best = max(r["done"] for r in rows)
            print(f"Create-send, {size} groups: at most {best:.0f} accepted per second in these rows (target >= {target}).")
    for r in results:
        if r["overload"]:
            print(f"Overload at {r['rate']:.0f} req/s: accepted p99 {r['p99_ok']:.0f} ms (target <= 1000), refused "
                  f"{r['refused']} with p99 {r['p99_refused']:.0f} ms (target: milliseconds), lost {r['lost']} (target 0).")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 100.0, 200.0])
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per row")
    parser.add_argument("--groups", type=int, default=10, help="groups per send")
    parser.add_argument("--big-groups", type=int, default=100, help="groups per send in the extra row (0: no extra row)")
    parser.add_argument("--big-rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 60.0],
                        help="req/s of the extra rows (the targets: p99 <= 250 ms at 50, >= 60 req/s)")
    parser.add_argument("--overload-rate", type=float, default=0,
                        help="req/s of the overload row; 0: twice the best 2xx rate create reached; -1: no overload row")
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="as the Procfile's WEB_CONCURRENCY default")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery prefork slots; 0: no worker")
    parser.add_argument("--timeout", type=float, default=10, help="seconds without an answer before a request counts as an error")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)  # internal: be the load generator
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.generate:
        return generator_main()
    web_port, gateway_port = free_port(), free_port()
    env = bench_env(WAHA_BASE_URL=f"http://127.0.0.1:{gateway_port}")
    django_setup(env)
    print(machine())
    print(f"API under bin/web (HAProxy, gunicorn with {args.gunicorn_workers} sync workers) with a Celery worker (prefork -c "
          f"{args.worker_concurrency}) and the fake gateway on the same machine; {args.duration:g} s per row, open loop.\n")
    database_reset(env)
    processes = Processes()
    try:
        processes.start("api-gateway", [sys.executable, "manage.py", "run_fake_gateway", "--port", str(gateway_port)],
                        env, ready="listening")
        worker = processes.worker(env, args.worker_concurrency, name="api-worker") if args.worker_concurrency else None
        fixture = bench_fixture(max(args.groups, args.big_groups))
        results, gunicorn = [], None

        def run(endpoint, groups, rate, label=""):
            nonlocal gunicorn
            print(f"  {endpoint} {groups or ''} at {rate:g} req/s ...", file=sys.stderr)
            if gunicorn:
                processes.stop(gunicorn)
            gunicorn = start_gunicorn(processes, env, web_port, args.gunicorn_workers)
            warm_up(args, env, fixture, web_port)
            results.append(measure_row(args, env, fixture, web_port, (gunicorn, worker), endpoint, groups, rate, label))

        for endpoint, groups, rate in plan(args):
            run(endpoint, groups, rate)
        if args.overload_rate >= 0:
            best = max((r["done"] for r in results if r["kind"] == "create" and r["groups"] == args.groups), default=0)
            rate = args.overload_rate or round(2 * best)
            if rate:
                run("create", args.groups, rate, label=f"overload: 2 x {best:.0f} req/s" if not args.overload_rate else "overload")
    finally:
        processes.stop_all()
    report(results, args.gunicorn_workers, args.groups, args.big_groups)


if __name__ == "__main__":
    main()
