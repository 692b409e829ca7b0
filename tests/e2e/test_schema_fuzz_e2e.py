"""The running API against its own served schema: schemathesis, every check, a fixed number of cases (bin/fuzz runs more)."""

import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from .stack import ROOT

pytestmark = pytest.mark.e2e


def test_the_api_does_what_its_schema_says(tmp_path):
    # Bounded by cases with a fixed seed and no example database: CI explores the
    # same cases on any machine, fast or slow (a failure here is reproducible with
    # `bin/fuzz --max-examples 5 --seed 1`); bin/fuzz without a seed explores anew.
    run = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", "--max-examples", "5", "--seed", "1", "--report-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    report = ElementTree.parse(next(tmp_path.glob("junit-*.xml"))).getroot()
    operations = {case.get("name") for case in report.iter("testcase")}
    # Every operation of the schema was exercised, and none failed.
    assert {"POST /v2/outbound/sends", "PATCH /v2/outbound/schedules/{schedule_id}", "POST /v2/api-secrets"} <= operations
    assert len(operations) >= 27
    assert report.get("failures") == "0" and report.get("errors") == "0"
    # No 5xx, and no 429: the fuzzer's token is exempt from the rate limits, so every answer is the logic's.
    figures = run.stdout.strip().splitlines()[-1]
    assert "server errors (5xx) 0," in figures and ", 429 0," in figures, figures
