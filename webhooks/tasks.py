"""Celery tasks for customer webhooks: thin, safe to run twice (messages are claimed, endpoints leased)."""

from celery import shared_task

from .services import dispatch, pending, relay, retention


@shared_task(name="webhooks.tasks.account_events_relay")
def account_events_relay(account_id: str) -> int:
    """Queued when an account's events commit (once while it waits): relays that account's only."""
    pending.started(account_events_relay, account_id)
    endpoints = relay.account_events_relay(account_id=account_id)
    for endpoint_id in endpoints:
        pending.queue_once(endpoint_dispatch, endpoint_id)
    return len(endpoints)


@shared_task(name="webhooks.tasks.events_relay")
def events_relay() -> int:
    """The backstop (beat, every 5 s): every account's unrelayed events in turn, and new endpoints' catch-up."""
    endpoints = relay.events_relay()
    for endpoint_id in endpoints:
        pending.queue_once(endpoint_dispatch, endpoint_id)
    return len(endpoints)


@shared_task(name="webhooks.tasks.endpoint_dispatch")
def endpoint_dispatch(endpoint_id: str) -> int:
    pending.started(endpoint_dispatch, endpoint_id)
    return dispatch.endpoint_dispatch(endpoint_id=endpoint_id)


@shared_task(name="webhooks.tasks.webhooks_dispatch_due")
def webhooks_dispatch_due() -> int:
    endpoints = dispatch.endpoints_with_due_messages()
    for endpoint_id in endpoints:
        pending.queue_once(endpoint_dispatch, endpoint_id)
    return len(endpoints)


@shared_task(name="webhooks.tasks.webhook_messages_purge")
def webhook_messages_purge() -> int:
    return retention.webhook_messages_purge()
