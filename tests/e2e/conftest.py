import httpx
import pytest

from tests.conftest import TEST_QUEUES, broker_redis

from .stack import Stack


@pytest.fixture
def stack(transactional_db, gateway, tmp_path, request):
    """Worker/beat processes sharing this test's database, queue and fake gateway."""
    broker_redis().delete(*TEST_QUEUES)  # nothing left over from unit tests
    stack = Stack(tmp_path, gateway.base_url)
    yield stack
    stack.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(stack.logs())  # shown under "Captured stdout teardown"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class Ledger:
    """The fake gateway's record of what it received, read over HTTP."""

    def __init__(self, gateway):
        self.url = f"{gateway.base_url}/_fake"

    def messages(self):
        return httpx.get(f"{self.url}/ledger").json()["messages"]

    def per_chat(self):
        counts = {}
        for message in self.messages():
            counts[message["chatId"]] = counts.get(message["chatId"], 0) + 1
        return counts

    def configure(self, **config):
        httpx.post(f"{self.url}/config", json=config).raise_for_status()


@pytest.fixture
def ledger(gateway):
    return Ledger(gateway)
