"""bin/web on a host without HAProxy: a debug run serves with gunicorn alone, production refuses to start."""

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_without_haproxy(tmp_path, **env) -> subprocess.Popen:
    # A PATH with the project's Python but none of the system's sbin folders, where Debian puts haproxy.
    path = ":".join(p for p in os.environ["PATH"].split(":") if "sbin" not in p)
    environment = {**os.environ, "PATH": path, "VAR_DIR": str(tmp_path), **env}
    return subprocess.Popen(
        ["bin/web"], cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_production_refuses_to_serve_without_the_proxy(tmp_path):
    process = web_without_haproxy(tmp_path, DJANGO_DEBUG="0", PORT=str(free_port()))
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "haproxy is not installed" in output and "WEB_WITHOUT_PROXY=1" in output


def test_a_debug_run_serves_with_gunicorn_alone_and_says_so(tmp_path):
    port = free_port()
    process = web_without_haproxy(tmp_path, DJANGO_DEBUG="1", PORT=str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn never answered"
            time.sleep(0.1)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "the slow-client guard is off" in output
