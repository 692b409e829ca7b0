"""bin/chaos --hosts --short: the service on several hosts, through a beat leader's death and a Redis and a PostgreSQL failover."""

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .stack import ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root and iproute2"),
    pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("redis-server") is None,
                       reason="needs PostgreSQL's server binaries and redis-server (Debian packages)"),
]


def test_across_hosts_nothing_is_sent_twice_or_lost_and_the_service_recovers(tmp_path):
    result_file = tmp_path / "hosts.json"
    with open("/tmp/outbound-hosts.lock", "w") as lock:  # one world per machine at a time (tests/hosts too)
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = subprocess.run([str(ROOT / "bin/chaos"), "--hosts", "--short", "--json", str(result_file)],
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(run.stdout[-3000:])
    assert result_file.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = {result["scenario"]: result for result in json.loads(result_file.read_text())}
    assert set(results) == {"leader-kill", "redis-failover", "postgres-failover"}
    for scenario, result in results.items():
        assert "error" not in result and result["settled"], result
        assert result["expected"] > 100, result
        assert result["accepted"] > 0, result  # immediate sends went in over HTTP through the app hosts' web processes
        assert result["duplicates"] == 0 and result["lost"] == 0, result
        assert result["delivered once"] + sum(result["failed"].values()) == result["expected"], result
    # Delivery resumes within 30 s of a broker's or a database's failover (the promise).
    assert results["redis-failover"]["recover_s"] < 30 and results["postgres-failover"]["recover_s"] < 30, results
    assert run.returncode == 0, run.stdout[-3000:]
