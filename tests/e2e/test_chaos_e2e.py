"""The chaos suite's short version (about a minute): nothing sent twice, nothing lost."""

import json
import shutil
import subprocess
import sys

import pytest

from .stack import ROOT

pytestmark = [
    pytest.mark.e2e,
    # bin/chaos starts and restarts a Redis server of its own (Debian's redis-server).
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="bin/chaos needs redis-server (Debian package redis-server)"),
]


def test_under_chaos_every_delivery_is_sent_exactly_once(tmp_path):
    result_file = tmp_path / "chaos.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short", "--json", str(result_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(result_file.read_text())
    print(run.stdout[-2500:])
    assert result["settled"], result
    assert result["expected"] > 500
    assert result["duplicates"] == 0 and result["lost"] == 0, result
    assert result["delivered once"] + sum(result["failed"].values()) == result["expected"]
    # The chaos happened: workers were killed, Redis and beat restarted, the leading beat hung, the session flipped.
    events = " ".join(result["events"])
    for what in ("SIGKILL", "Redis killed", "beat stopped", "a second beat", "beat hung", "STOPPED"):
        assert what in events, events
