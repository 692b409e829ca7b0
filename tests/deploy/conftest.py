import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.exported import every_metric_counted, sample_names, scrape_text
from tests.webhooks.conftest import endpoint, receiver  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exported(settings, session, endpoint):  # noqa: F811
    """The sample names one scrape of the real GET /metrics view holds, with a row or a count behind every family."""
    every_metric_counted(session=session, endpoint=endpoint)
    names = sample_names(scrape_text(settings))
    assert "outbound_deliveries_total" in names and "outbound_sessions" in names  # the scrape is not empty
    return names


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool, installed from Debian's prometheus package by bin/_promtool.sh when missing and apt can."""
    if not shutil.which("promtool"):
        subprocess.run(["bash", "-c", ". bin/_promtool.sh"], cwd=ROOT, check=False, timeout=600)
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed and could not be (bin/_promtool.sh needs apt-get as root): apt-get install prometheus")
    return path
