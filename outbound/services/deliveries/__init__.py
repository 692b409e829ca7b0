"""Sending deliveries: claim a batch, call the gateway part by part, record the outcomes.

Guarantees (docs/architecture.md, "Exactly once"):
- A delivery is claimed with a conditional UPDATE before the gateway is
  called; a duplicate task finds nothing to claim.
- Every gateway message carries an id derived from the delivery and part, and
  every attempt after the first asks the gateway for that id before sending,
  so an attempt that died after the gateway accepted it is not sent again.
- Each write after a gateway call is fenced on the attempt number: a worker
  whose lease was taken over cannot overwrite the new owner's progress.

A task attempts a batch of deliveries (OUTBOUND_DELIVERY_BATCH_SIZE), and
the database work is per batch, not per delivery: one UPDATE ... RETURNING
claims them, one query loads them with their send and session, and the sent
ones are recorded together as soon as the batch is done or FLUSH_SECONDS
after the first of them, whichever comes first. Only the rare outcomes (a
retry, a hold, a failure) are written one by one.

The modules, each named for what it decides:
- attempt: the order of one attempt and of a batch (the entry points below);
- claiming: which deliveries are ours to send, and letting go of them;
- gateway: putting a delivery's parts on the gateway, once each;
- recording: writing final statuses, their events and the sends they complete;
- retries: when to try again (backoff, holds, pacing slots).

Every module logs as "outbound.services.deliveries", the name operators filter on.
"""

from .attempt import deliveries_attempt, delivery_attempt
from .retries import RetryAt

__all__ = ["RetryAt", "deliveries_attempt", "delivery_attempt"]
