"""What every benchmark needs: its own database and queue, the real processes, a table to print.

Benchmarks run the service as in production: PostgreSQL, Redis, DEBUG off,
real worker/beat/gunicorn processes and the fake gateway over HTTP. They
report numbers; they assert nothing.
"""

import atexit
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "var" / "bench"

DATABASE = os.environ.get("BENCH_DATABASE", "outbound_bench")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def bench_env(database: str | None = None, **overrides) -> dict:
    """Environment for the bench driver and every process it starts."""
    database = database or DATABASE
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret",
        "DATABASE_URL": f"{PG}/{database}",
        "CELERY_BROKER_URL": REDIS,
        "CELERY_TASK_DEFAULT_QUEUE": os.environ.get("BENCH_QUEUE", f"bench-{uuid.uuid4().hex[:8]}"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Plain HTTP on loopback: production's redirect to HTTPS would answer every request with a 301.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        # Limits high enough never to refuse, so the figures include the cost of counting.
        "API_RATE_LIMIT_PER_TOKEN": "1000000/minute",
        "API_RATE_LIMIT_PER_ACCOUNT": "1000000/minute",
        # Sessions a benchmark makes send without typing, as they did before
        # human-like sends existed, so rows stay comparable; the production
        # bench's human-like row turns it on per session.
        "OUTBOUND_SESSION_HUMAN_LIKE": "0",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def django_setup(env: dict) -> None:
    """Configure this process like the service (same settings) and load Django."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def database_reset(env: dict) -> None:
    """Create the bench database if needed, migrate it, and empty every table."""
    import psycopg2

    database = env["DATABASE_URL"].rsplit("/", 1)[1]
    admin = psycopg2.connect(f"{PG}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        exists = cursor.fetchone() is not None
        if exists and _migrations_unknown_to_this_checkout(env):
            # Migrated by another checkout (another branch, uncommitted work): its
            # schema is not this code's, and migrate cannot undo what it does not know.
            cursor.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            exists = False
        if not exists:
            cursor.execute(f'CREATE DATABASE "{database}"')
    admin.close()
    manage(env, "migrate", "--noinput", "-v0")
    conn = psycopg2.connect(env["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'django_migrations'"
        )
        cursor.execute(f"TRUNCATE {cursor.fetchone()[0]} RESTART IDENTITY CASCADE")
    conn.close()


def _migrations_unknown_to_this_checkout(env: dict) -> bool:
    """Whether the database records a migration that this checkout's apps do not have."""
    import psycopg2

    conn = psycopg2.connect(env["DATABASE_URL"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return False
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = cursor.fetchall()
    finally:
        conn.close()
    ours = {path.parent.name for path in ROOT.glob("*/migrations")}
    return any(
        app in ours and not (ROOT / app / "migrations" / f"{name}.py").exists() for app, name in applied
    )


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def redis_flush_queue(env: dict) -> None:
    import redis

    queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).delete(queue, f"{queue}.fire")


class Processes:
    """Processes a benchmark starts; all stopped at exit, logs kept in var/bench/."""

    def __init__(self):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.running: list[tuple[str, subprocess.Popen]] = []
        atexit.register(self.stop_all)

    def start(self, name: str, argv: list[str], env: dict, ready: str | None = None, timeout: float = 60) -> subprocess.Popen:
        log = LOG_DIR / f"{name}.log"
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running.append((name, process))
        if ready:
            deadline = time.monotonic() + timeout
            while ready not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
        return process

    def stop(self, process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        for _, process in reversed(self.running):
            self.stop(process)
        self.running.clear()

    # The service's processes, as the Procfile runs them.

    def gateway(self, env: dict, port: int, *extra: str) -> str:
        self.start("gateway", [sys.executable, "manage.py", "run_fake_gateway", "--port", str(port), *extra], env, ready="listening")
        return f"http://127.0.0.1:{port}"

    def web(self, env: dict, port: int, name: str = "web", workers: int = 2, access_log: str = os.devnull) -> subprocess.Popen:
        """The web process as the Procfile runs it (bin/web: HAProxy on 127.0.0.1:`port`, gunicorn behind it)."""
        env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers),
               # bin/web runs gunicorn from PATH: this interpreter's.
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"}
        if shutil.which("haproxy") is None:
            # A machine where nothing could install it (bin/_haproxy.sh needs root and apt):
            # measure gunicorn alone rather than nothing, and say so.
            print(f"{name}: haproxy is not installed: gunicorn alone serves port {port}", file=sys.stderr)
            env["WEB_WITHOUT_PROXY"] = "1"
        process = self.start(name, ["bin/web", "--access-logfile", access_log], env, ready="Booting worker")
        _wait_for_port(port, process, LOG_DIR / f"{name}.log")
        return process

    def worker(self, env: dict, concurrency: int, name: str = "worker", pool: str = "prefork") -> subprocess.Popen:
        return self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", str(concurrency), "-P", pool,
             "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",  # no -Q: the settings name the queues, fires first
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            env,
            ready="ready.",
        )

    def beat(self, env: dict, name: str = "beat", scheduler: str | None = None, app: str = "config") -> subprocess.Popen:
        argv = [sys.executable, "-m", "celery", "-A", app, "beat", "-l", "INFO", "--pidfile=", "-s", str(LOG_DIR / f"{name}-schedule")]
        if scheduler:
            argv += ["-S", scheduler]
        return self.start(name, argv, env, ready="beat: Starting")


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:`port` (HAProxy starts after gunicorn's socket)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web did not listen on {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table, ready to paste into docs/benchmarks.md."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = lambda row: "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |", *map(line, cells[1:])])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def machine() -> str:
    """One line naming the machine, for the results."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"
