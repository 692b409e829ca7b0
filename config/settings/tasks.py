"""Celery: broker, queues, reliability, and what beat runs."""

from kombu import Queue

from .environment import VAR_DIR, env

# ------------------------------------------------------------------------------
# Celery
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Why each reliability setting is what it is: docs/operations.md.
# ------------------------------------------------------------------------------
# The filesystem transport has no host; naming one spares kombu's warning
# ("No hostname was supplied") on every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="outbound")
# Schedule fires go to a queue of their own that workers always serve first
# (queue_order_strategy "priority" below): a fire waiting behind a backlog of
# deliveries would start late. Workers consume both, in this order.
CELERY_SCHEDULE_FIRE_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}.fire"
CELERY_TASK_QUEUES = (Queue(CELERY_SCHEDULE_FIRE_QUEUE), Queue(CELERY_TASK_DEFAULT_QUEUE))
CELERY_TASK_ROUTES = {
    "schedules.tasks.schedule_fire": {"queue": CELERY_SCHEDULE_FIRE_QUEUE},
    "schedules.tasks.schedules_fire": {"queue": CELERY_SCHEDULE_FIRE_QUEUE},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Reuse a worker's database connection across tasks (Celery would otherwise
# close it after each one); config/celery_app.py applies CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than the longest countdown we ever give a task (delivery backoff
    # is capped below this), so a reserved message is not redelivered early.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600),
    "queue_order_strategy": "priority",
}
if CELERY_BROKER_URL.startswith("sentinel://"):
    # Redis Sentinel (docs/operations.md, "Outgrowing one machine"): the monitored master's name.
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = env.str("CELERY_BROKER_MASTER_NAME")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Where kombu keeps its exchange-to-queue bindings; its default is
        # `control` in the working directory, left behind in the repository.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "queue_order_strategy": "priority",
    }
    # The filesystem transport has no fanout exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_BEAT_SCHEDULER = "schedules.beat:OutboundScheduler"
# How often each retention purge runs (a bounded number of small batches each
# time; the periods are under "Retention" below).
RETENTION_PURGE_SECONDS = env.float("RETENTION_PURGE_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "outbound-sweep-deliveries": {
        "task": "outbound.tasks.deliveries_sweep",
        "schedule": env.float("OUTBOUND_SWEEP_SECONDS", default=30.0),
    },
    "outbound-refresh-sessions": {
        "task": "outbound.tasks.sessions_refresh",
        "schedule": env.float("OUTBOUND_SESSION_REFRESH_SECONDS", default=60.0),
    },
    # Sessions not WORKING for longer than OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS pause their schedules.
    "outbound-check-session-health": {
        "task": "outbound.tasks.sessions_health_check",
        "schedule": env.float("OUTBOUND_SESSION_HEALTH_CHECK_SECONDS", default=30.0),
    },
    # Backstops: events are relayed right after their commit, retries are found here.
    "webhooks-relay-events": {"task": "webhooks.tasks.events_relay", "schedule": 5.0},
    "webhooks-dispatch-due": {"task": "webhooks.tasks.webhooks_dispatch_due", "schedule": 5.0},
    # Retention (docs/operations.md).
    "outbound-purge-provider-events": {"task": "outbound.tasks.provider_events_purge", "schedule": RETENTION_PURGE_SECONDS},
    "outbound-purge-idempotency-keys": {
        "task": "outbound.tasks.idempotency_keys_purge",
        "schedule": RETENTION_PURGE_SECONDS,
    },
    "outbound-purge-events": {"task": "outbound.tasks.events_purge", "schedule": RETENTION_PURGE_SECONDS},
    "webhooks-purge-messages": {"task": "webhooks.tasks.webhook_messages_purge", "schedule": RETENTION_PURGE_SECONDS},
    "schedules-purge-mirrors": {"task": "schedules.tasks.schedule_mirrors_purge", "schedule": RETENTION_PURGE_SECONDS},
    "outbound-purge-sends": {"task": "outbound.tasks.sends_purge", "schedule": RETENTION_PURGE_SECONDS},
    "schedules-purge-runs": {"task": "schedules.tasks.runs_purge", "schedule": RETENTION_PURGE_SECONDS},
}
