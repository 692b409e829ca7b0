"""POST /v2/outbound/sends under gunicorn at fixed request rates, next to a trivial endpoint.

Target: create-send p99 <= 100 ms at 100 requests/s.

Runs the service as deployed on this machine: gunicorn (sync workers, access
log on, as in the Procfile), a Celery worker and the fake gateway, so the
deliveries each send causes compete for the same 2 cores. The trivial
endpoint is GET /v2/sessions (token auth plus one small query, listing the
account's one session): an existing cheap authenticated DRF view, served by
the same gunicorn in the same run, so create/trivial shows the cost of our
own work. No benchmark-only view is added to the product.

Load is open loop: request i is due at i/rate whatever happened before
(a slow server is not allowed to slow the load down), and latency counts from
when it was due. The generator is a separate process (asyncio, raw HTTP/1.1,
one connection per request as gunicorn's sync workers close it anyway); its
own lag and CPU are reported to show it is not the bottleneck. Each POST
has a unique idempotency_key. Every row gets a fresh, warmed-up gunicorn and
an empty queue: an overloaded row leaves thousands of requests in the listen
backlog and sends in the queue, which would otherwise eat the next row's CPU.

    bin/bench api [--rates 50,100,200] [--duration 15] [--groups 10] [--gunicorn-workers 2]
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
HEADERS = [
    "endpoint", "groups", "target req/s", "sent req/s", "done req/s", "p50 ms", "p99 ms", "max ms", "errors",
    "gunicorn workers", "gen lag p99 ms", "gen CPU %", "gunicorn CPU %", "worker CPU %", "postgres CPU %", "machine busy %",
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
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--access-logfile", "-"]
    return processes.start("api-gunicorn", argv, env, ready="Booting worker")


def load_spec(args, fixture, port: int, endpoint: str, groups: int, rate: float) -> dict:
    spec = {"host": "127.0.0.1", "port": port, "token": fixture.token, "rate": rate, "duration": args.duration,
            "timeout": args.timeout, "key_prefix": uuid.uuid4().hex, "method": "GET", "path": "/v2/sessions", "body": ""}
    if endpoint == "create":
        body = {"session_id": fixture.session_id, "group_ids": fixture.group_ids[:groups], "idempotency_key": "{key}",
                "text": "bench"}
        spec.update(method="POST", path="/v2/outbound/sends", body=json.dumps(body))
    return spec


def run_generator(spec: dict, env: dict) -> dict:
    """Run one load in its own process, so its CPU is not the server's and vice versa."""
    done = subprocess.run([sys.executable, "-m", "bench.api", "--generate"], input=json.dumps(spec), capture_output=True,
                          env=env, text=True)
    if done.returncode:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def measure_row(args, env, fixture, port, procs, endpoint: str, groups: int, rate: float) -> dict:
    redis_flush_queue(env)  # the previous row's delivery backlog must not compete with this row
    gunicorn, worker = procs
    meter = CpuMeter(
        gunicorn=lambda: process_tree(gunicorn.pid),
        worker=lambda: process_tree(worker.pid) if worker else [],
        postgres=lambda: pids_named("postgres"),
    )
    load = run_generator(load_spec(args, fixture, port, endpoint, groups, rate), env)
    cpu = meter.result()
    results = load["results"]
    # Every request counts, answered or not: one that timed out counts as its timeout, so an
    # overloaded row cannot look fast by dropping its slowest requests.
    latencies = [r[1] for r in results]
    ok = sum(1 for r in results if 200 <= r[2] < 300)
    last_done = max((r[0] + r[1] / 1000 for r in results), default=float("nan"))
    return {
        "endpoint": "POST /v2/outbound/sends" if endpoint == "create" else "GET /v2/sessions (trivial)",
        "kind": endpoint, "groups": groups if endpoint == "create" else "-", "rate": rate,
        "sent": (len(results) - 1) / load["sent_window"] if load["sent_window"] else float("nan"),  # n starts span n-1 gaps
        "done": ok / last_done, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")), "errors": len(results) - ok,
        "lag_p99": percentile([r[3] for r in results], 99), "gen_cpu": 100 * load["cpu"] / load["wall"], "cpu": cpu,
    }


def row(r: dict, workers: int) -> list:
    cpu = r["cpu"]
    return [r["endpoint"], r["groups"], r["rate"], r["sent"], r["done"], r["p50"], r["p99"], r["max"], r["errors"],
            workers, r["lag_p99"], r["gen_cpu"], cpu["gunicorn"], cpu["worker"], cpu["postgres"], cpu["machine busy"]]


def warm_up(args, env, fixture, port) -> None:
    """A few requests of each kind so every gunicorn worker has loaded the URLconf, DRF and its DB connection."""
    for endpoint in ("trivial", "create"):
        spec = {**load_spec(args, fixture, port, endpoint, args.groups, 20), "duration": 1.5}
        run_generator(spec, env)


def plan(args) -> list[tuple[str, int, float]]:
    rows = []
    for rate in args.rates:
        rows += [("trivial", args.groups, rate), ("create", args.groups, rate)]
    if args.big_groups:
        rows.append(("create", args.big_groups, args.big_rate))
    return rows


def report(results: list[dict], workers: int) -> None:
    print(table(HEADERS, [row(r, workers) for r in results]))
    print("\nsent = the generator's achieved rate; done = 2xx answers per second until the last one. Latency counts from"
          "\nwhen a request was due; errors = non-2xx or no answer within the timeout (counted at the timeout)."
          "\nCPU % columns are of one core (gen = the load generator); machine busy is % of all cores.")
    print("\nCreate-send vs trivial at the same rate (the cost of our own work):\n")
    ratios = []
    for create in (r for r in results if r["kind"] == "create"):
        trivial = next((r for r in results if r["kind"] == "trivial" and r["rate"] == create["rate"]), None)
        if trivial:
            ratios.append([create["groups"], create["rate"], create["p50"] / trivial["p50"],
                           create["p99"] / trivial["p99"], create["errors"]])
    print(table(["groups", "req/s", "p50 create / trivial", "p99 create / trivial", "create errors"], ratios))
    print("(a row with errors was saturated: its latencies are capped by the timeout, so is its ratio)")
    # The first create row at the target rate is the --groups one (the extra big row comes last).
    at_target = next((r for r in results if r["kind"] == "create" and r["rate"] == TARGET_RATE), None)
    if at_target:
        met = at_target["p99"] <= TARGET_P99_MS and at_target["errors"] == 0
        print(f"\nTarget create-send p99 <= {TARGET_P99_MS} ms at {TARGET_RATE} req/s ({at_target['groups']} groups): "
              f"{'met' if met else 'NOT met'} (p99 {at_target['p99']:.0f} ms, {at_target['errors']} errors).")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 100.0, 200.0])
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per row")
    parser.add_argument("--groups", type=int, default=10, help="groups per send")
    parser.add_argument("--big-groups", type=int, default=100, help="groups per send in the extra row (0: no extra row)")
    parser.add_argument("--big-rate", type=float, default=100.0, help="req/s of the extra row")
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
    print(f"API under gunicorn ({args.gunicorn_workers} sync workers) with a Celery worker (prefork -c "
          f"{args.worker_concurrency}) and the fake gateway on the same machine; {args.duration:g} s per row, open loop.")
    print("Trivial endpoint: GET /v2/sessions, an existing authenticated DRF view listing one session "
          "(no benchmark-only view is added).\n")
    database_reset(env)
    processes = Processes()
    try:
        processes.start("api-gateway", [sys.executable, "manage.py", "run_fake_gateway", "--port", str(gateway_port)],
                        env, ready="listening")
        worker = processes.worker(env, args.worker_concurrency, name="api-worker") if args.worker_concurrency else None
        fixture = bench_fixture(max(args.groups, args.big_groups))
        results, gunicorn = [], None
        for endpoint, groups, rate in plan(args):
            print(f"  {endpoint} {groups if endpoint == 'create' else ''} at {rate:g} req/s ...", file=sys.stderr)
            if gunicorn:
                processes.stop(gunicorn)
            gunicorn = start_gunicorn(processes, env, web_port, args.gunicorn_workers)
            warm_up(args, env, fixture, web_port)
            results.append(measure_row(args, env, fixture, web_port, (gunicorn, worker), endpoint, groups, rate))
    finally:
        processes.stop_all()
    report(results, args.gunicorn_workers)


if __name__ == "__main__":
    main()
