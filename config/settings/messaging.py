"""The product's own knobs: the gateway, sends, schedules, customer URLs, webhooks, retention."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG
from .environment import env

# ------------------------------------------------------------------------------
# Gateway (WAHA-compatible). Default: the project's fake gateway.
# ------------------------------------------------------------------------------
WAHA_BASE_URL = env.str("WAHA_BASE_URL", default="http://127.0.0.1:3000").rstrip("/")
WAHA_API_KEY = env.str("WAHA_API_KEY", default="")
WAHA_TIMEOUT_SECONDS = env.float("WAHA_TIMEOUT_SECONDS", default=15.0)
# Callbacks from the gateway (POST /v2/providers/waha/webhook) are verified
# with this key (WAHA's HMAC-SHA512); without one they are refused unless
# unsigned ones are allowed (the default only in debug runs).
WAHA_WEBHOOK_HMAC_KEY = env.str("WAHA_WEBHOOK_HMAC_KEY", default="")
WAHA_WEBHOOK_ALLOW_UNSIGNED = env.bool("WAHA_WEBHOOK_ALLOW_UNSIGNED", default=DEBUG)
WAHA_WEBHOOK_TOLERANCE_SECONDS = env.int("WAHA_WEBHOOK_TOLERANCE_SECONDS", default=300)

# ------------------------------------------------------------------------------
# Outbound sends
# ------------------------------------------------------------------------------
OUTBOUND_MAX_SEND_ATTEMPTS = env.int("OUTBOUND_MAX_SEND_ATTEMPTS", default=10)
OUTBOUND_MESSAGE_EXPIRATION_SECONDS = env.int("OUTBOUND_MESSAGE_EXPIRATION_SECONDS", default=259200)
# First retry after this many seconds, doubling, capped (must stay below the
# broker visibility timeout).
OUTBOUND_RETRY_BASE_SECONDS = env.float("OUTBOUND_RETRY_BASE_SECONDS", default=5.0)
OUTBOUND_RETRY_MAX_SECONDS = env.float("OUTBOUND_RETRY_MAX_SECONDS", default=1800.0)
# A delivery in "sending" longer than this is presumed abandoned by a dead
# worker; the next claim checks the gateway before sending again.
OUTBOUND_SEND_LEASE_SECONDS = env.int("OUTBOUND_SEND_LEASE_SECONDS", default=120)
if OUTBOUND_SEND_LEASE_SECONDS <= 2 * WAHA_TIMEOUT_SECONDS:
    # A live worker must always finish (or time out) its gateway call before
    # its lease can be taken over, or two workers could send the same part.
    raise ImproperlyConfigured("OUTBOUND_SEND_LEASE_SECONDS must exceed twice WAHA_TIMEOUT_SECONDS.")
# Deliveries per task, and how long a task keeps taking the next one before
# it puts the rest back on the queue (keeps batches inside the time limit).
OUTBOUND_DELIVERY_BATCH_SIZE = env.int("OUTBOUND_DELIVERY_BATCH_SIZE", default=25)
OUTBOUND_DELIVERY_BATCH_BUDGET_SECONDS = env.float("OUTBOUND_DELIVERY_BATCH_BUDGET_SECONDS", default=60.0)
# The sweeper re-enqueues a due delivery whose last task is older than this
# (its message may have been lost with the broker).
OUTBOUND_SWEEP_STALE_SECONDS = env.int("OUTBOUND_SWEEP_STALE_SECONDS", default=300)
# Pacing for new sessions (each session's own values can be changed in the
# admin and the API): WhatsApp bans numbers that send too fast or too evenly.
OUTBOUND_SESSION_MESSAGES_PER_MINUTE = env.int("OUTBOUND_SESSION_MESSAGES_PER_MINUTE", default=30)
OUTBOUND_SESSION_SEND_DELAY_MAX_MS = env.int("OUTBOUND_SESSION_SEND_DELAY_MAX_MS", default=2000)
# New sessions send human-like (seen, typing, then the message); sessions
# made before this setting existed keep sending as they did (migration).
OUTBOUND_SESSION_HUMAN_LIKE = env.bool("OUTBOUND_SESSION_HUMAN_LIKE", default=True)
# How often beat asks the gateway for every sending session's status.
OUTBOUND_SESSION_REFRESH_SECONDS = env.float("OUTBOUND_SESSION_REFRESH_SECONDS", default=60.0)
IDEMPOTENCY_KEY_TTL_HOURS = env.float("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# ------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------
SCHEDULE_MIN_INTERVAL_MS = env.int("SCHEDULE_MIN_INTERVAL_MS", default=60_000)
SCHEDULE_HORIZON_DAYS = env.int("SCHEDULE_HORIZON_DAYS", default=365)
SCHEDULE_CLOCK_SKEW_MS = env.int("SCHEDULE_CLOCK_SKEW_MS", default=5_000)
SCHEDULE_MISSED_GRACE_SECONDS = env.int("SCHEDULE_MISSED_GRACE_SECONDS", default=600)
# Decisions about time (is it due? has it waited long enough?) read the
# database's clock, measured by each process now and then (outbound/clock.py),
# so a host whose clock is off decides as the others do. Off: each host's own.
CLOCK_FOLLOWS_DATABASE = env.bool("CLOCK_FOLLOWS_DATABASE", default=True)
# Test and operator tooling, never for production: shifts the service's clock
# (outbound/clock.py) by this many seconds, so end-to-end tests can put worker
# processes just before a local midnight or a quiet-hours end. 0: no shift.
OUTBOUND_CLOCK_OFFSET_SECONDS = env.float("OUTBOUND_CLOCK_OFFSET_SECONDS", default=0.0)
# How often beat looks for schedules that fell due or changed.
SCHEDULE_POLL_SECONDS = env.float("SCHEDULE_POLL_SECONDS", default=1.0)
# The beat leader renews its lease every poll; one that stops (dead, hung,
# cut off) is replaced by a standby within this plus one poll (schedules/leader.py).
SCHEDULE_LEADER_LEASE_SECONDS = env.float("SCHEDULE_LEADER_LEASE_SECONDS", default=max(5.0, 3 * SCHEDULE_POLL_SECONDS))
if SCHEDULE_LEADER_LEASE_SECONDS < 2 * SCHEDULE_POLL_SECONDS:
    # Shorter, and a healthy leader's lease runs out between two of its renewals.
    raise ImproperlyConfigured("SCHEDULE_LEADER_LEASE_SECONDS must be at least twice SCHEDULE_POLL_SECONDS.")
# A schedule whose runs fail this many times in a row pauses itself (0: never).
SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS = env.int("SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS", default=3)
# A session is unhealthy, and every schedule on it pauses (outbound/services/session_health.py), when it
# has not been WORKING for this long (0: never on this ground) ...
OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = env.int("OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS", default=600)
# ... or when this many deliveries in a row come back with ack ERROR (-1) while it says WORKING (0: never).
OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS = env.int("OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS", default=5)
# An occurrence that starts more than this after its fire time counts as late in a schedule's stats (and it is in the fire-lag metric).
SCHEDULE_LATE_AFTER_SECONDS = env.float("SCHEDULE_LATE_AFTER_SECONDS", default=5.0)
# The fire-lag histogram's `account` label names this many accounts (those with the most active schedules);
# the rest are "other", so the metric's series stay bounded however many accounts there are.
SCHEDULE_FIRE_LAG_TOP_ACCOUNTS = env.int("SCHEDULE_FIRE_LAG_TOP_ACCOUNTS", default=20)

# ------------------------------------------------------------------------------
# URLs customers give us: webhook endpoints and media (core/addresses.py,
# docs/operations.md "Addresses customer URLs may reach")
# ------------------------------------------------------------------------------
# Networks those URLs may reach although not globally routable (e.g.
# 10.20.0.0/16 for an internal receiver); every other non-public address is
# refused. WEBHOOKS_ALLOWED_PRIVATE_NETWORKS is the older name, still read.
URL_ALLOWED_PRIVATE_NETWORKS = env.list(
    "URL_ALLOWED_PRIVATE_NETWORKS", default=env.list("WEBHOOKS_ALLOWED_PRIVATE_NETWORKS", default=[])
)
# The longest a URL's name lookup may take before the URL is refused as
# unresolvable (core/addresses.py): the lookup happens inside a request.
URL_RESOLVE_TIMEOUT_SECONDS = env.float("URL_RESOLVE_TIMEOUT_SECONDS", default=2.0)
for _network in URL_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"URL_ALLOWED_PRIVATE_NETWORKS: {_network!r} is not a network; use e.g. 10.20.0.0/16,fd00::/8."
        )

# ------------------------------------------------------------------------------
# Customer webhooks (docs/webhooks.md)
# ------------------------------------------------------------------------------
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
# An endpoint is turned off (disabled_reason, a webhook.endpoint.disabled event)
# when it has failed every attempt for this many days, or this many attempts
# in a row, whichever comes first (0: no count limit). docs/webhooks.md.
WEBHOOKS_DISABLE_AFTER_DAYS = env.int("WEBHOOKS_DISABLE_AFTER_DAYS", default=5)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=1000)
if WEBHOOKS_DISABLE_AFTER_DAYS < 1 or WEBHOOKS_DISABLE_AFTER_FAILURES < 0:
    raise ImproperlyConfigured("WEBHOOKS_DISABLE_AFTER_DAYS must be at least 1 and WEBHOOKS_DISABLE_AFTER_FAILURES at least 0.")
WEBHOOKS_SECRET_ROTATION_HOURS = env.int("WEBHOOKS_SECRET_ROTATION_HOURS", default=24)

# ------------------------------------------------------------------------------
# Retention (docs/operations.md, "Retention"): days a row is kept after it
# stopped changing; 0 keeps it forever. Purged by beat every
# RETENTION_PURGE_SECONDS, in small batches.
# ------------------------------------------------------------------------------
# Events nobody needs any more (relayed; those with webhook messages stay as
# long as their messages do).
RETENTION_EVENTS_DAYS = env.float("RETENTION_EVENTS_DAYS", default=7)
# Webhook messages that succeeded or failed, with their attempts (what
# GET /v2/webhooks/{id}/deliveries shows and what can be replayed).
RETENTION_WEBHOOK_MESSAGES_DAYS = env.float("RETENTION_WEBHOOK_MESSAGES_DAYS", default=30)
# django-celery-beat mirrors (PeriodicTask) of schedules that completed or
# were canceled; the schedule itself is kept.
RETENTION_SCHEDULE_MIRRORS_DAYS = env.float("RETENTION_SCHEDULE_MIRRORS_DAYS", default=30)
# Finished sends with their deliveries, and finished runs. Kept forever by
# default: it is what customers and operators look back on.
RETENTION_RUN_HISTORY_DAYS = env.float("RETENTION_RUN_HISTORY_DAYS", default=0)
# Ids of gateway callbacks already processed (WAHA retries for minutes, not days).
RETENTION_PROVIDER_EVENTS_DAYS = env.float("RETENTION_PROVIDER_EVENTS_DAYS", default=7)
if min(
    RETENTION_EVENTS_DAYS, RETENTION_WEBHOOK_MESSAGES_DAYS, RETENTION_SCHEDULE_MIRRORS_DAYS, RETENTION_RUN_HISTORY_DAYS,
    RETENTION_PROVIDER_EVENTS_DAYS,
) < 0:
    raise ImproperlyConfigured("RETENTION_*_DAYS must be 0 (keep forever) or a number of days.")
