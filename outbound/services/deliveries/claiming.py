"""Which deliveries of a batch are ours to send: the claim, its fence, and letting go of it."""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F

from outbound import clock, sql
from outbound.models import Delivery

logger = logging.getLogger(__package__)


class LeaseLost(Exception):
    """Another worker took the delivery over; stop without writing."""


def deliveries_claim(ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, tuple[Delivery, bool]]:
    """Move to `sending` the deliveries that are ours to send; {id: (delivery, taken_over)}.

    Queued and due, or `sending` with a lease that ran out (abandoned by a
    dead worker: taken over). The second UPDATE runs only for ids the first
    did not claim, which in steady state is none.
    """
    lease = now + timedelta(seconds=settings.OUTBOUND_SEND_LEASE_SECONDS)
    fresh = sql.deliveries_claim(ids, now=now, lease=lease, abandoned=False)
    rest = [i for i in ids if i not in fresh]
    abandoned = sql.deliveries_claim(rest, now=now, lease=lease, abandoned=True) if rest else set()
    for delivery_id in abandoned:
        logger.warning("delivery %s: taking over an abandoned attempt", delivery_id)
    loaded = _deliveries_load(fresh | abandoned)
    return {i: (loaded[i], i in abandoned) for i in ids if i in loaded}


def _deliveries_load(ids) -> dict[uuid.UUID, Delivery]:
    """{id: delivery} with its send, the send's session and its account (quiet hours): one query."""
    if not ids:
        return {}
    loaded = Delivery.objects.select_related("send__session__account").filter(pk__in=ids)
    return {delivery.pk: delivery for delivery in loaded}


def fenced(delivery: Delivery):
    """Rows this attempt may still write: ours only while our claim stands."""
    return Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts)


def claim_release(delivery: Delivery, **changes) -> bool:
    """Put a claimed delivery back to queued without using up the attempt (it sent nothing)."""
    return bool(
        fenced(delivery).update(
            status=Delivery.Status.QUEUED,
            attempts=F("attempts") - 1,
            lease_expires_at=None,
            updated_at=clock.now(),
            **changes,
        )
    )


def claims_release(deliveries: list[Delivery]) -> None:
    """Put back claimed deliveries that were never started (the batch ran out of time)."""
    for delivery in deliveries:
        claim_release(delivery)
