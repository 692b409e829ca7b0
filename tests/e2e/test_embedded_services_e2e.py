"""bin/test on a machine without PostgreSQL or Redis: it starts its own from PyPI wheels (bin/_embedded_services.py)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest
import redis

from .stack import ROOT

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_postgresql_and_redis_start_from_wheels_where_nothing_answers():
    pg_port, redis_port = free_port(), free_port()
    # Not pytest's tmp_path: as root PostgreSQL runs as `nobody`, who cannot enter /tmp/pytest-of-root.
    home = Path(tempfile.mkdtemp(prefix="outbound-services-test-"))
    home.chmod(0o755)
    env = {**os.environ, "TEST_SERVICES_DIR": str(home)}
    script = [sys.executable, str(ROOT / "bin" / "_embedded_services.py")]
    try:
        subprocess.run([*script, "--postgres", str(pg_port), "--redis", str(redis_port)], env=env, check=True, timeout=600)
        connection = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/postgres", connect_timeout=5)
        with connection, connection.cursor() as cursor:
            cursor.execute("show server_version")
            assert cursor.fetchone()[0].startswith("18.")
            cursor.execute("create table t (x int)")  # a real server, with a writable data folder
        connection.close()
        assert redis.Redis(host="127.0.0.1", port=redis_port).ping()
        # Run again: both answer, nothing is started or installed twice.
        again = subprocess.run(
            [*script, "--postgres", str(pg_port), "--redis", str(redis_port)], env=env, check=True, timeout=60,
            capture_output=True, text=True,
        )
        assert again.stderr == ""
    finally:
        subprocess.run([*script, "--stop"], env=env, timeout=60, check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", pg_port), timeout=1)
