"""Fixtures shared by every test: real PostgreSQL, real Redis, the real fake gateway over HTTP."""

import socket
import uuid
from datetime import datetime, timezone

import pytest
import redis
import time_machine
import uuid6
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from core.models import Account
from core.services.tokens import api_token_create
from outbound.fake_gateway.server import start_in_thread
from outbound.models import Group, Session, User

# bin/test gives each run queues of its own, so runs sharing a Redis (CI
# beside a developer's session) never consume each other's tasks.
TEST_QUEUES = (django_settings.CELERY_SCHEDULE_FIRE_QUEUE, django_settings.CELERY_TASK_DEFAULT_QUEUE)


# Where every test's clock starts (a Wednesday morning in UTC, weeks from any
# DST change): a test must pass on any day at any hour, so none reads the
# real date. A test that needs another instant says so with
# @pytest.mark.clock("2026-11-22T20:00:00Z"); the clock ticks from there.
CLOCK_START = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock(request):
    """The test's clock (a time_machine traveller: .shift(seconds), .move_to(when)).

    e2e tests start worker and beat processes, which read the real clock, so
    they keep it too (and must not depend on the date themselves).
    """
    if request.node.get_closest_marker("e2e"):
        yield None
        return
    marker = request.node.get_closest_marker("clock")
    start = datetime.fromisoformat(marker.args[0]) if marker else CLOCK_START
    # The service's clock follows the database's (outbound/clock.py), which this one is months from.
    with time_machine.travel(start, tick=True) as traveller, override_settings(CLOCK_FOLLOWS_DATABASE=False):
        # Ids carry the time they were made (UUIDv7), and uuid6 never makes one
        # older than its last: without this, ids would keep an earlier test's
        # (or the real) time instead of this clock's.
        uuid6._last_v7_timestamp = None
        yield traveller


def on_sqlite() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


def pytest_collection_modifyitems(config, items):
    """On SQLite (bin/test's second run) only the API contract tests run: the rest is PostgreSQL's."""
    if not on_sqlite():
        return
    keep = [i for i in items if i.get_closest_marker("contract") and not i.get_closest_marker("postgresql")]
    left_out = [i for i in items if i not in keep]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def _real_backends():
    assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or on_sqlite(), (
        "Tests run on PostgreSQL (and the contract tests on SQLite): use bin/test (it sets DATABASE_URL)."
    )
    assert django_settings.CELERY_BROKER_URL.startswith("redis://"), "Tests run on Redis: use bin/test."
    yield
    broker_redis().delete(*TEST_QUEUES)


def broker_redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


@pytest.fixture
def queued_tasks():
    """Read what was published to this run's queue: [(task name, args)]. Starts empty."""
    import base64
    import json

    client = broker_redis()
    client.delete(*TEST_QUEUES)

    def read():
        messages = []
        for queue in TEST_QUEUES:
            # Each list is a queue: newest at the head.
            for raw in reversed(client.lrange(queue, 0, -1)):
                message = json.loads(raw)
                args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
                messages.append((message["headers"]["task"], args, kwargs))
        return messages

    yield read
    client.delete(*TEST_QUEUES)


@pytest.fixture
def account(db):
    return Account.objects.create(name="Acme")


@pytest.fixture
def user(account):
    return User.objects.create(username=f"user-{uuid.uuid4().hex[:8]}", account=account)


@pytest.fixture
def token(account, user):
    return api_token_create(account=account, user=user, name="tests")[1]


@pytest.fixture
def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def session(account):
    return Session.objects.create(
        account=account,
        name=f"sales-{uuid.uuid4().hex[:8]}",
        label="Sales line",
        role=Session.Role.SENDING,
        status=Session.Status.WORKING,
        # Unpaced, so tests run at full speed; pacing has tests of its own.
        messages_per_minute=None,
        send_delay_max_ms=0,
        human_like=False,
    )


@pytest.fixture
def make_groups(account, session):
    counter = iter(range(1, 10_000))

    def make(n, *, in_session=session, owner=None):
        groups = []
        for _ in range(n):
            i = next(counter)
            group = Group.objects.create(
                account=owner or account, chat_id=f"1203630{uuid.uuid4().int % 10**11:011d}{i}@g.us", name=f"Group {i}"
            )
            if in_session is not None:
                group.sessions.add(in_session)
            groups.append(group)
        return groups

    return make


@pytest.fixture
def other_account(db):
    account = Account.objects.create(name="Other")
    session = Session.objects.create(
        account=account, name=f"other-{uuid.uuid4().hex[:8]}", status=Session.Status.WORKING
    )
    group = Group.objects.create(account=account, chat_id="120363999999999999@g.us", name="Theirs")
    group.sessions.add(session)
    return account


@pytest.fixture
def gateway(settings):
    """The project's fake gateway on a free port, with settings pointing at it."""
    server, base_url = start_in_thread()
    settings.WAHA_BASE_URL = base_url
    yield server
    server.stop()


def database_url() -> str:
    """The test database, for worker and beat processes started by e2e tests."""
    params = connection.settings_dict
    return f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


# Public names the tests use, with global addresses: this machine has no DNS
# for public names, and the URL rule (core/addresses.py) resolves every host.
PUBLIC_NAMES = {
    "cdn.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "hooks.example.com": ["93.184.215.15"],
}


@pytest.fixture
def public_dns(monkeypatch):
    """Resolve PUBLIC_NAMES (and what a test adds: public_dns["name"] = [addresses]); only the resolver is patched."""
    names = {name: list(addresses) for name, addresses in PUBLIC_NAMES.items()}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in names:
            return real(host, port, family, type, proto, flags)
        answers = []
        for address in names[host]:
            if ":" in address:
                answers.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)))
            else:
                answers.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)))
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names
