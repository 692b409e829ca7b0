"""The outbox relay: committed events become one webhook message per subscribed endpoint.

Events are written in the transaction of the change they describe (outbound
services); only committed ones are ever seen here, so nothing is sent for a
change that rolled back.

Fair between accounts:

- Only events of accounts with an endpoint wait for the relay: the others are
  written already relayed (outbound.services.events.events_record asks
  webhooks.receivers.account_subscribed), so nobody's events pile up.
- Each account's events are relayed by a task of its own, queued when they
  commit (account_events_relay), which reads that account's unrelayed events
  only: another account's backlog is never in its way.
- The backstop (events_relay, every 5 s from beat, in case a task was lost)
  finds the accounts with unrelayed events and takes one batch of each in
  turn, starting from a different account each run: an account waits for at
  most one batch of each other account.

An endpoint gets the events written from when it was created or turned on.
Other processes may have cached "no endpoint" for that account for a few
seconds and written its events as relayed; endpoints_catch_up, run by the
backstop, gives the endpoint those.
"""

import random
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.models import Account, Event
from outbound.services.retention import id_floor

from ..models import WebhookEndpoint, WebhookMessage

BATCH = 500
# A relay task holds a worker for about a second at most, like a delivery
# task: up to this many batches and this long, whichever ends first (how
# long a batch takes depends on the machine). What is left goes on in the
# account's next task or the next backstop run; a worker busy relaying one
# account is soon free for another's.
MAX_BATCHES = 10
BUDGET_SECONDS = 1.0
# Events written up to this long after an endpoint was turned on may have been
# written by a process whose cache still said "no endpoint": its cache
# (webhooks.receivers.CACHE_SECONDS, 5 s), plus a margin for a transaction
# that asked just before and committed later, and for the clocks of
# different machines.
CATCH_UP_WINDOW = timedelta(seconds=15)
# The catch-up repeats on every backstop run for this long after the window
# opened, so an event of the window that committed late is still caught.
CATCH_UP_HORIZON = timedelta(minutes=2)
CATCH_UP_LIMIT = 10_000
# How far apart the clocks of two of our machines may be (see _written_while_receiving).
CLOCK_MARGIN = timedelta(seconds=5)
# An event's id and created_at come from the same clock, a moment apart (more
# if its process made ids faster than one a millisecond: uuid7 moves ahead).
ID_MARGIN = timedelta(minutes=1)


def account_events_relay(
    *, account_id, batch: int = BATCH, max_batches: int = MAX_BATCHES, budget_seconds: float = BUDGET_SECONDS
) -> list:
    """Relay one account's unrelayed events, oldest first; the ids of the endpoints that got messages."""
    deadline = time.monotonic() + budget_seconds
    endpoint_ids = set()
    for _ in range(max_batches):
        relayed, got = _account_batch_relay(account_id=account_id, batch=batch)
        endpoint_ids |= got
        if relayed < batch or time.monotonic() > deadline:
            break
    return sorted(endpoint_ids)


def events_relay(*, batch: int = BATCH, max_batches: int = MAX_BATCHES, budget_seconds: float = BUDGET_SECONDS) -> list:
    """The backstop: every account's unrelayed events, one batch per account in turn; the endpoints that got messages.

    1. Endpoints turned on in the last minutes catch up (endpoints_catch_up).
    2. Accounts with unrelayed events take turns, one batch each per round,
       until none is left, `max_batches` batches were relayed or
       `budget_seconds` have passed.
    """
    deadline = time.monotonic() + budget_seconds
    endpoint_ids = endpoints_catch_up()
    accounts = accounts_with_unrelayed_events(limit=max_batches)
    batches = 0
    while accounts:
        for account_id in list(accounts):
            relayed, got = _account_batch_relay(account_id=account_id, batch=batch)
            endpoint_ids |= got
            batches += 1
            if relayed < batch:
                accounts.remove(account_id)
            if batches >= max_batches or time.monotonic() > deadline:
                return sorted(endpoint_ids)
    return sorted(endpoint_ids)


def accounts_with_unrelayed_events(*, limit: int) -> list:
    """Up to `limit` accounts with unrelayed events, from a random point on (wrapping), so none is always last."""
    start = uuid.UUID(int=random.getrandbits(128))
    accounts = _accounts_between(low=start, high=None, limit=limit)
    if len(accounts) < limit:
        accounts += _accounts_between(low=None, high=start, limit=limit - len(accounts))
    return accounts


def _accounts_between(*, low, high, limit: int) -> list:
    """Accounts with unrelayed events in [low, high), ascending: one index probe each
    (event_unrelayed_account_idx), however many events each has waiting."""
    # Ordered as the index is, (account, id): the account_id index alone would
    # have to step over every relayed event on the way.
    unrelayed = Event.objects.filter(relayed=False).order_by("account_id", "id").values_list("account_id", flat=True)
    if high is not None:
        unrelayed = unrelayed.filter(account_id__lt=high)
    bound = Q(account_id__gte=low) if low is not None else Q()
    accounts = []
    while len(accounts) < limit:
        account_id = unrelayed.filter(bound).first()
        if account_id is None:
            break
        accounts.append(account_id)
        bound = Q(account_id__gt=account_id)
    return accounts


def _account_batch_relay(*, account_id, batch: int) -> tuple[int, set]:
    """Relay up to `batch` of the account's unrelayed events: (how many, endpoints that got messages).

    Relays of one account take turns: each holds the account's row while it
    relays a batch. Taking disjoint batches side by side (SKIP LOCKED alone)
    let a later event's message be made, and sent, before an earlier one's,
    which breaks the order receivers are promised. NO KEY UPDATE, because
    it does not wait for (nor block) the inserts that write the account's
    events, which only take KEY SHARE on its row.
    """
    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).filter(pk=account_id).values_list("pk").first()
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(account_id=account_id, relayed=False)
            .order_by("id")
            .only("id", "type", "created_at")[:batch]
        )
        if not events:
            return 0, set()
        endpoints = list(WebhookEndpoint.objects.filter(account_id=account_id, enabled=True, disabled_reason=""))
        messages = _messages_make(endpoints, events)
        WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
        with_messages = {m.event_id for m in messages}
        Event.objects.filter(pk__in=with_messages).update(relayed=True, has_webhook_messages=True)
        Event.objects.filter(pk__in=[e.pk for e in events if e.pk not in with_messages]).update(relayed=True)
        return len(events), {m.endpoint_id for m in messages}


def _messages_make(endpoints, events) -> list[WebhookMessage]:
    now = timezone.now()
    return [
        WebhookMessage(endpoint=endpoint, event_id=event.id, event_type=event.type, next_attempt_at=now)
        for event in events
        for endpoint in endpoints
        if endpoint.wants(event.type) and _written_while_receiving(endpoint, event)
    ]


def _written_while_receiving(endpoint: WebhookEndpoint, event: Event) -> bool:
    # An endpoint gets the events written from when it was created or turned
    # on: an event written while it was off (still unrelayed when it was
    # turned on again) is not sent by surprise. The margin is for the clocks
    # of the machines that wrote the event and turned the endpoint on: an
    # event of the same moment is never lost to a clock a little behind.
    since = endpoint.receiving_since
    return since is None or event.created_at >= since - CLOCK_MARGIN


def endpoints_catch_up() -> set:
    """Give endpoints turned on in the last minutes the events written as unsubscribed since; the endpoints that got some.

    Those are events of the first seconds after an endpoint was created or
    turned on, written by processes whose cache still said the account had
    none (webhooks.receivers). Repeated on every backstop run for
    CATCH_UP_HORIZON; a message once made is not made again (one per
    endpoint and event). They may arrive after later events did.
    """
    now = timezone.now()
    endpoint_ids = set()
    for endpoint in WebhookEndpoint.objects.filter(receiving_since__gt=now - CATCH_UP_HORIZON, enabled=True, disabled_reason=""):
        if _endpoint_catch_up(endpoint):
            endpoint_ids.add(endpoint.id)
    return endpoint_ids


def _endpoint_catch_up(endpoint: WebhookEndpoint) -> int:
    since, until = endpoint.receiving_since, endpoint.receiving_since + CATCH_UP_WINDOW
    with transaction.atomic():
        events = list(
            Event.objects.filter(
                account_id=endpoint.account_id,
                relayed=True,  # unrelayed ones are the relay's
                created_at__gte=since,
                created_at__lt=until,
                # The account's events of those seconds, through its id index
                # (ids carry the time they were made: see id_floor).
                id__gte=id_floor(since - ID_MARGIN),
                id__lt=id_floor(until + ID_MARGIN),
            )
            .exclude(pk__in=endpoint.messages.values("event_id"))
            .order_by("id")
            .only("id", "type", "created_at")[:CATCH_UP_LIMIT]
        )
        messages = _messages_make([endpoint], events)
        WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
        Event.objects.filter(pk__in=[m.event_id for m in messages], has_webhook_messages=False).update(has_webhook_messages=True)
        return len(messages)
