"""GET /metrics: what the services count (in prometheus-client's multiprocess files), what is read at scrape time, who may read it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from config import metrics
from config.celery_app import app as celery_app
from outbound.models import Session
from outbound.services.deliveries import delivery_attempt
from outbound.services.events import events_record
from schedules.leader import lease_renew
from schedules.models import BeatLease
from schedules.services import schedule_occurrence_fire
from tests.schedules.conftest import make_due_now, make_schedule, post_schedule  # noqa: F401 (fixtures)
from tests.webhooks.conftest import endpoint, receiver  # noqa: F401 (fixtures)
from webhooks.services.dispatch import endpoint_dispatch
from webhooks.services.relay import events_relay

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape() -> dict:
    """{(sample name, frozenset of labels): value} from GET /metrics, as a scraper with the token reads it."""
    response = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include these (labels not named are summed over)."""
    wanted = set(labels.items())
    return sum(v for (n, sample_labels), v in samples.items() if n == name and wanted <= sample_labels)


def test_it_counts_deliveries_by_final_status_and_fire_lag(api, session, make_groups, gateway, make_schedule, django_capture_on_commit_callbacks):  # noqa: F811
    before = scrape()
    groups = make_groups(2)
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "m-1", "text": "Hi"}
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post("/v2/outbound/sends", body, format="json").json()
    for recipient in sent["send"]["results"]:
        with django_capture_on_commit_callbacks(execute=True):
            delivery_attempt(delivery_id=recipient["recipient_send_id"])
    # The same groups again within the frequency cap: both skipped at once.
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/v2/outbound/sends", {**body, "idempotency_key": "m-2", "skip_within_hours": 1}, format="json")
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)

    after = scrape()
    assert value(after, "outbound_deliveries_total", status="sent") - value(before, "outbound_deliveries_total", status="sent") == 2
    assert value(after, "outbound_deliveries_total", status="skipped") - value(before, "outbound_deliveries_total", status="skipped") == 2
    fires = value(after, "outbound_schedule_fire_lag_seconds_count", trigger="beat") - value(
        before, "outbound_schedule_fire_lag_seconds_count", trigger="beat"
    )
    assert fires == 1
    # Fired the moment it fell due: in the first bucket.
    bucket = {"trigger": "beat", "le": "0.05"}
    assert value(after, "outbound_schedule_fire_lag_seconds_bucket", **bucket) - value(
        before, "outbound_schedule_fire_lag_seconds_bucket", **bucket
    ) == 1


def test_it_counts_failed_deliveries(session, make_groups, gateway, django_capture_on_commit_callbacks):
    import httpx

    from outbound.services.sends import send_create, send_targets_resolve

    httpx.post(f"{gateway.base_url}/_fake/config", json={"sessions": {session.name: "MISSING"}}).raise_for_status()
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(1)])
    delivery = send_create(targets=targets, text="Hi", media=[], actor_user=None).deliveries[0]
    before = value(scrape(), "outbound_deliveries_total", status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        delivery_attempt(delivery_id=delivery.id)
    assert value(scrape(), "outbound_deliveries_total", status="failed") - before == 1


def test_it_counts_webhook_attempts_by_result(account, endpoint, receiver):  # noqa: F811
    before = scrape()
    receiver.answers = [500]
    with transaction.atomic():
        events_record(account_id=account.id, events=[("message.notification.sent", {"id": "d1"})])
    events_relay()
    endpoint_dispatch(endpoint_id=endpoint.id)
    after = scrape()
    for result in ("retrying", "succeeded"):
        assert value(after, "outbound_webhook_deliveries_total", result=result) == value(
            before, "outbound_webhook_deliveries_total", result=result
        ) + (1 if result == "retrying" else 0)


def test_it_adds_up_the_counts_of_other_processes_and_forgets_them_once_they_are_gone(settings):
    """A Celery pool process or a gunicorn worker is another process: its counts reach this one's /metrics through the files."""
    before = value(scrape(), "outbound_deliveries_total", status="expired")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    code = "import django; django.setup(); from outbound import metrics; metrics.deliveries_finished(['expired'] * 3)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert value(scrape(), "outbound_deliveries_total", status="expired") - before == 3

    # At the next start, the files of processes that are gone are removed (ours stays).
    assert metrics.files_of_dead_processes_remove() >= 1
    assert value(scrape(), "outbound_deliveries_total", status="expired") <= before
    assert any(path.name.endswith(f"_{os.getpid()}.db") for path in Path(settings.PROMETHEUS_MULTIPROC_DIR).iterdir())


def test_queue_depth_is_what_waits_in_this_runs_queues(settings, queued_tasks):
    with celery_app.connection_for_write() as conn:
        for _ in range(3):
            celery_app.send_task("outbound.tasks.delivery_attempt", args=["x"], queue=settings.CELERY_TASK_DEFAULT_QUEUE, connection=conn)
        celery_app.send_task("schedules.tasks.schedule_fire", args=["x", 1], queue=settings.CELERY_SCHEDULE_FIRE_QUEUE, connection=conn)
    samples = scrape()
    assert value(samples, "outbound_queue_depth", queue=settings.CELERY_TASK_DEFAULT_QUEUE) == 3
    assert value(samples, "outbound_queue_depth", queue=settings.CELERY_SCHEDULE_FIRE_QUEUE) == 1


def test_beat_leader_and_sessions_are_read_at_scrape_time(session):
    BeatLease.objects.all().delete()
    samples = scrape()
    assert value(samples, "outbound_beat_leader") == 0
    assert lease_renew(name=BeatLease.BEAT, holder="beat-1:1:ab", seconds=5)
    samples = scrape()
    assert value(samples, "outbound_beat_leader") == 1 and value(samples, "outbound_beat_leader_term") >= 1
    assert 0 <= value(samples, "outbound_beat_last_poll_age_seconds") < 5
    working = value(samples, "outbound_sessions", status="WORKING", role="sending")
    assert working == Session.objects.filter(status="WORKING", role="sending").count() >= 1
    assert ("outbound_sessions", frozenset({"status": "FAILED", "role": "sending"}.items())) in samples  # zeros listed too


def test_it_takes_the_metrics_token_as_a_bearer_token():
    client = APIClient()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_it_is_refused_without_a_token_unless_debugging(settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    refused = APIClient().get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "metrics_off"
    settings.DEBUG = True
    assert APIClient().get("/metrics").status_code == 200


def test_webhook_endpoints_are_counted_by_status_at_scrape_time(endpoint):  # noqa: F811
    from webhooks.services.dispatch import endpoint_disable

    assert value(scrape(), "outbound_webhook_endpoints", status="active") == 1
    endpoint_disable(endpoint=endpoint, reason="The endpoint answered 410 Gone.")
    samples = scrape()
    assert (value(samples, "outbound_webhook_endpoints", status="active"), value(samples, "outbound_webhook_endpoints", status="disabled")) == (0, 1)
    assert value(samples, "outbound_webhook_endpoints", status="off") == 0
