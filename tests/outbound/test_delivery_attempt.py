"""One delivery attempt against the fake gateway over real HTTP: claim, send, record."""

import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from core.models import Event
from outbound.models import Delivery, MediaFile, Send
from outbound.services.deliveries import RetryAt, delivery_attempt
from outbound.services.queueing import deliveries_sweep
from outbound.services.sends import send_create, send_fan_out, send_targets_resolve
from outbound.signals import send_finished
from outbound.transports import get_client


def make_send(session, groups, *, text="Hello", media=()):
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in groups])
    return send_create(targets=targets, text=text, media=list(media), actor_user=None).send


def ledger(gateway):
    return httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]


def configure(gateway, **config):
    httpx.post(f"{gateway.base_url}/_fake/config", json=config).raise_for_status()


def make_due(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_it_sends_a_text_and_records_the_provider_id(gateway, session, make_groups):
    send = make_send(session, make_groups(1))
    delivery = send.deliveries.get()
    assert delivery_attempt(delivery_id=delivery.id) is None

    delivery.refresh_from_db()
    entry = ledger(gateway)[0]
    assert (entry["chatId"], entry["session"], entry["text"]) == (delivery.chat_id, session.name, "Hello")
    assert entry["id"] == delivery.gateway_message_id(0)
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.sent_at is not None
    assert delivery.provider_message_id == entry["serialized"]
    send.refresh_from_db()
    assert send.status == "completed" and send.completed_at is not None
    event = Event.objects.get(type="message.notification.sent")
    assert event.data["id"] == str(delivery.id) and event.data["status"] == "sent"


def test_it_sends_nothing_when_the_task_runs_twice(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert len(ledger(gateway)) == 1
    assert Delivery.objects.get(pk=delivery.pk).attempts == 1


def test_it_fails_at_once_on_a_permanent_error(gateway, session, make_groups):
    configure(gateway, sessions={session.name: "MISSING"})  # the gateway answers 404
    send = make_send(session, make_groups(2))
    for delivery in send.deliveries.all():
        assert delivery_attempt(delivery_id=delivery.id) is None
    failed = send.deliveries.first()
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.error_code == "session_not_found"
    send.refresh_from_db()
    assert send.status == "completed_with_failures"
    assert Event.objects.filter(type="message.notification.failed").count() == 2
    assert ledger(gateway) == []


def test_it_retries_a_transient_error_later(gateway, session, make_groups, settings):
    configure(gateway, error_rate=1.0)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    before = timezone.now()
    retry = delivery_attempt(delivery_id=delivery.id)
    assert isinstance(retry, RetryAt)
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.error_code == "gateway_error"
    # First backoff: the base delay with +-20% jitter.
    base = settings.OUTBOUND_RETRY_BASE_SECONDS
    assert before + timedelta(seconds=0.8 * base) <= delivery.next_attempt_at == retry.when
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=1.2 * base)

    # Too early: nothing is claimed, the task is told when to come back.
    assert delivery_attempt(delivery_id=delivery.id) == RetryAt(delivery.next_attempt_at)
    configure(gateway, error_rate=0.0)
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2 and delivery.error_code == ""
    assert len(ledger(gateway)) == 1


def test_it_grows_the_backoff_and_caps_it(settings):
    from outbound.services.deliveries.retries import backoff_seconds as _backoff

    settings.OUTBOUND_RETRY_BASE_SECONDS = 5
    settings.OUTBOUND_RETRY_MAX_SECONDS = 60
    assert 4 <= _backoff(1) <= 6
    assert 16 <= _backoff(3) <= 24
    assert 48 <= _backoff(9) <= 72


def test_it_does_not_resend_a_message_the_gateway_accepted_before_failing(gateway, session, make_groups):
    configure(gateway, accept_then_fail_rate=1.0)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    assert isinstance(delivery_attempt(delivery_id=delivery.id), RetryAt)
    assert len(ledger(gateway)) == 1  # the gateway has it, though it answered 500
    configure(gateway, accept_then_fail_rate=0.0)
    make_due(delivery)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    assert len(ledger(gateway)) == 1
    assert delivery.provider_message_id == ledger(gateway)[0]["serialized"]


def _abandon(delivery):
    """What a worker killed mid-send leaves behind: `sending`, lease run out."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_it_takes_over_an_abandoned_attempt_the_gateway_got(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    # The dead worker's request reached the gateway before it died.
    get_client().send_text(session=session.name, chat_id=delivery.chat_id, text="Hello", message_id=delivery.gateway_message_id(0))
    _abandon(delivery)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    assert len(ledger(gateway)) == 1


def test_it_takes_over_an_abandoned_attempt_the_gateway_never_got(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    _abandon(delivery)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert [e["id"] for e in ledger(gateway)] == [delivery.gateway_message_id(0)]


def test_it_leaves_a_live_attempt_alone(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert Delivery.objects.get(pk=delivery.pk).attempts == 1
    assert ledger(gateway) == []


def test_it_gives_up_after_max_send_attempts(gateway, session, make_groups, settings):
    settings.OUTBOUND_MAX_SEND_ATTEMPTS = 2
    configure(gateway, error_rate=1.0)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 2
    assert delivery.error_code == "gateway_error"
    assert delivery.error_message.startswith("Gave up after 2 attempts")


def test_it_expires_rather_than_retry_past_the_expiry(gateway, session, make_groups):
    configure(gateway, error_rate=1.0)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(expires_at=timezone.now() + timedelta(seconds=2))
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "expired" and delivery.expired_at is not None
    assert Event.objects.filter(type="message.notification.expired").count() == 1


def test_it_expires_a_delivery_whose_time_is_up_without_calling_the_gateway(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    delivery_attempt(delivery_id=delivery.id)
    assert Delivery.objects.get(pk=delivery.pk).status == "expired"
    assert ledger(gateway) == []


def test_it_sends_one_message_per_image_with_the_caption_on_the_first(gateway, session, make_groups, public_dns):
    media = [{"url": "https://cdn.example.com/a.png", "mimetype": "image/png"}, {"url": "https://cdn.example.com/b.jpg"}]
    delivery = make_send(session, make_groups(1), text="Look", media=media).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    entries = ledger(gateway)
    assert [(e["type"], e["text"], e["file"]["url"]) for e in entries] == [
        ("image", "Look", "https://cdn.example.com/a.png"),
        ("image", None, "https://cdn.example.com/b.jpg"),
    ]
    assert entries[1]["file"]["mimetype"] == "image/jpeg"
    delivery.refresh_from_db()
    assert delivery.parts_sent == 2 and len(delivery.provider_message_ids) == 2


def test_it_sends_an_uploaded_image_inline(gateway, session, make_groups, account):
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    from outbound.services.sends import media_file_store

    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100
    stored = media_file_store(account=account, upload=SimpleUploadedFile("p.png", png), mimetype="image/png")
    delivery = make_send(session, make_groups(1), text="", media=[{"file_id": str(stored.id)}]).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    file = ledger(gateway)[0]["file"]
    assert file["mimetype"] == "image/png" and file["filename"] == "p.png"
    assert file["data_sha256"] == hashlib.sha256(png).hexdigest()
    assert MediaFile.objects.count() == 1


def test_it_resumes_a_multi_part_send_where_it_stopped(gateway, session, make_groups, public_dns):
    media = [{"url": "https://cdn.example.com/a.png"}, {"url": "https://cdn.example.com/b.png"}]
    delivery = make_send(session, make_groups(1), media=media).deliveries.get()
    # Part 0 went out and was recorded; then the gateway failed on part 1.
    get_client().send_image(
        session=session.name, chat_id=delivery.chat_id, file={"mimetype": "image/png", "url": media[0]["url"]},
        caption="Hello", message_id=delivery.gateway_message_id(0),
    )
    Delivery.objects.filter(pk=delivery.pk).update(parts_sent=1, provider_message_ids=["first"], attempts=1)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert [e["file"]["url"] for e in ledger(gateway)] == [m["url"] for m in media]
    assert delivery.provider_message_ids[0] == "first"


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_lease_was_taken_writes_nothing(gateway, session, make_groups):
    configure(gateway, latency_ms=600)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    worker = threading.Thread(target=lambda: (delivery_attempt(delivery_id=delivery.id), connection.close()))
    worker.start()
    time.sleep(0.3)
    # While the first worker waits on the gateway, another claims the row.
    Delivery.objects.filter(pk=delivery.pk).update(attempts=5)
    worker.join()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.parts_sent, delivery.provider_message_ids) == ("sending", 5, 0, [])


@pytest.mark.django_db(transaction=True)
def test_the_last_of_concurrent_finishers_completes_the_send_once(gateway, session, make_groups):
    send = make_send(session, make_groups(12))
    finished = []
    send_finished.connect(lambda sender, send, **kw: finished.append(send.pk), weak=False, dispatch_uid="test-finished")
    ids = list(send.deliveries.values_list("pk", flat=True))

    def work(chunk):
        for delivery_id in chunk:
            delivery_attempt(delivery_id=delivery_id)
        connection.close()

    try:
        threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        send_finished.disconnect(dispatch_uid="test-finished")
    send.refresh_from_db()
    assert send.status == "completed"
    assert finished == [send.pk]
    assert len(ledger(gateway)) == 12


def test_the_fan_out_enqueues_the_queued_deliveries_in_batches(session, make_groups, queued_tasks, settings):
    settings.OUTBOUND_DELIVERY_BATCH_SIZE = 2
    send = make_send(session, make_groups(6))
    first = send.deliveries.first()
    Delivery.objects.filter(pk=first.pk).update(status="sent")
    send.deliveries.update(enqueued_at=None)  # as a send made by an earlier release left them
    assert send_fan_out(send_id=send.id) == 5
    tasks = queued_tasks()
    assert {name for name, _, _ in tasks} == {"outbound.tasks.deliveries_attempt"}
    assert [len(args[0]) for _, args, _ in tasks] == [2, 2, 1]
    queued = sorted(i for _, args, _ in tasks for i in args[0])
    assert queued == sorted(str(d.pk) for d in send.deliveries.exclude(pk=first.pk))
    assert Delivery.objects.filter(enqueued_at__isnull=False).count() == 5


def test_a_batch_stops_at_its_budget_and_returns_the_rest(gateway, session, make_groups):
    from outbound.services.deliveries import deliveries_attempt

    configure(gateway, latency_ms=150)
    ids = [d.id for d in make_send(session, make_groups(5)).deliveries.all()]
    retries, left = deliveries_attempt(delivery_ids=ids, budget_seconds=0.2)
    assert retries == {}
    assert 1 <= len(ids) - len(left) <= 3 and left == ids[len(ids) - len(left):]
    assert len(ledger(gateway)) == len(ids) - len(left)


def test_the_sweeper_requeues_only_deliveries_whose_task_may_be_lost(session, make_groups, queued_tasks):
    lost, fresh, abandoned, live = make_send(session, make_groups(4)).deliveries.all()
    long_ago = timezone.now() - timedelta(minutes=20)
    Delivery.objects.filter(pk=lost.pk).update(next_attempt_at=long_ago, enqueued_at=long_ago)
    Delivery.objects.filter(pk=fresh.pk).update(next_attempt_at=long_ago, enqueued_at=timezone.now())
    Delivery.objects.filter(pk=abandoned.pk).update(
        status="sending", lease_expires_at=timezone.now() - timedelta(seconds=1), enqueued_at=long_ago
    )
    Delivery.objects.filter(pk=live.pk).update(
        status="sending", lease_expires_at=timezone.now() + timedelta(seconds=60), enqueued_at=long_ago
    )
    assert deliveries_sweep(stale_seconds=300) == 2
    assert sorted(i for _, args, _ in queued_tasks() for i in args[0]) == sorted([str(lost.pk), str(abandoned.pk)])
    # Just re-enqueued: the next sweep leaves them alone.
    assert deliveries_sweep(stale_seconds=300) == 0


@pytest.mark.contract
def test_send_detail_shows_each_groups_outcome(api, gateway, session, make_groups):
    configure(gateway, sessions={session.name: "MISSING"})
    send = make_send(session, make_groups(1))
    delivery_attempt(delivery_id=send.deliveries.get().id)
    body = api.get(f"/v2/outbound/sends/{send.id}").json()
    assert body["status"] == "completed_with_failures"
    assert "text" not in body and body["text_length"] == 5
    result = body["results"][0]
    assert result["ok"] is False and result["status"] == "failed"
    assert result["error_code"] == "session_not_found" and result["attempts"] == 1
    assert isinstance(result["failed_at_ms"], int)
    assert Send.objects.get(pk=send.id).status == "completed_with_failures"


def test_an_attempt_that_may_have_arrived_is_marked_unconfirmed_until_the_gateway_answers(gateway, session, make_groups, settings):
    settings.WAHA_TIMEOUT_SECONDS = 0.3
    configure(gateway, latency_ms=600)  # the gateway takes it, but answers too late
    delivery = make_send(session, make_groups(1)).deliveries.get()
    assert isinstance(delivery_attempt(delivery_id=delivery.id), RetryAt)
    delivery.refresh_from_db()
    assert delivery.error_code == "gateway_timeout" and delivery.unconfirmed
    # The retry comes after the gateway took it (in production the backoff is seconds):
    # a lookup while the first request is still inside the gateway cannot find it yet.
    deadline = time.monotonic() + 5
    while not ledger(gateway) and time.monotonic() < deadline:
        time.sleep(0.05)
    configure(gateway, latency_ms=0)
    make_due(delivery)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and not delivery.unconfirmed
    assert len(ledger(gateway)) == 1  # found by the lookup, not sent again


def test_a_refused_connection_is_not_unconfirmed(session, make_groups, settings):
    settings.WAHA_BASE_URL = "http://127.0.0.1:9"
    delivery = make_send(session, make_groups(1)).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.error_code == "gateway_unreachable" and not delivery.unconfirmed


def test_a_delivery_that_ends_unconfirmed_says_so_in_the_api(api, session, make_groups, settings, gateway):
    settings.OUTBOUND_MAX_SEND_ATTEMPTS = 1
    settings.WAHA_TIMEOUT_SECONDS = 0.3
    configure(gateway, latency_ms=600)
    send = make_send(session, make_groups(1))
    delivery_attempt(delivery_id=send.deliveries.get().id)
    result = api.get(f"/v2/outbound/sends/{send.id}").json()["results"][0]
    assert (result["status"], result["error_code"], result["unconfirmed"]) == ("failed", "gateway_timeout", True)


def _batch_queries(gateway, session, make_groups, size: int) -> int:
    from django.test.utils import CaptureQueriesContext

    from outbound.services.deliveries import deliveries_attempt

    ids = [d.id for d in make_send(session, make_groups(size)).deliveries.all()]
    with CaptureQueriesContext(connection) as queries:
        retries, left = deliveries_attempt(delivery_ids=ids, budget_seconds=60)
    assert (retries, left) == ({}, [])
    assert Delivery.objects.filter(pk__in=ids, status="sent").count() == size
    assert Event.objects.filter(type="message.notification.sent", data__id__in=[str(i) for i in ids]).count() == size
    return len(queries)


def test_a_batch_costs_the_same_queries_whatever_its_size(gateway, session, make_groups):
    # Claimed with one UPDATE, loaded with one query, recorded together: the
    # database work is per batch, not per delivery (the gateway calls are not queries).
    assert _batch_queries(gateway, session, make_groups, 2) == _batch_queries(gateway, session, make_groups, 10)


def test_a_batch_does_not_record_a_delivery_another_worker_took_over(gateway, session, make_groups, monkeypatch):
    from outbound.services.deliveries import attempt
    from outbound.services.deliveries import gateway as parts

    send = make_send(session, make_groups(3))
    ids = [d.id for d in send.deliveries.order_by("id")]
    real_send_part = parts.part_send

    def send_part_then_lose_the_first(delivery, part):
        provider_id = real_send_part(delivery, part)
        if delivery.pk == ids[-1]:
            # Meanwhile (a slow batch), another worker took the first one over: a new attempt number.
            Delivery.objects.filter(pk=ids[0]).update(attempts=F("attempts") + 1)
        return provider_id

    from django.db.models import F

    monkeypatch.setattr(attempt, "FLUSH_SECONDS", 60)  # all three recorded together, at the end
    monkeypatch.setattr(parts, "part_send", send_part_then_lose_the_first)
    attempt.deliveries_attempt(delivery_ids=ids, budget_seconds=60)
    statuses = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {ids[0]: "sending", ids[1]: "sent", ids[2]: "sent"}
    assert not Event.objects.filter(type="message.notification.sent", data__id=str(ids[0])).exists()
