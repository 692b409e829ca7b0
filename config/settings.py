"""Django settings for the outbound scheduling service.

Every setting a deployment may change comes from an environment variable; each
one is listed with its default in the README ("Configuration"). With no
environment at all the service runs on an embedded default that needs no
server: SQLite and kombu's filesystem broker under ./var/.
"""

import ipaddress
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp_constants
from kombu import Queue
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_RATE = re.compile(r"^(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)s?$", re.IGNORECASE)
_RATE_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "hr": "hour", "d": "day"}


def rate_setting(name: str, default: str) -> str | None:
    """A rate limit from the environment as the `limits` library reads it ("600/1 minute"); None for off."""
    text = env.str(name, default=default).strip()
    if text.lower() in ("off", "none", "0"):
        return None
    match = _RATE.match(text)
    if not match:
        raise ImproperlyConfigured(f"{name}={text!r}: use e.g. 600/minute, 600/min, 10/second or off.")
    count, multiple, unit = match.groups()
    unit = _RATE_UNITS.get(unit.lower(), unit.lower())
    return f"{count}/{multiple or 1} {unit}"


def credential_ids_setting(name: str) -> frozenset[str]:
    """A comma-separated list of credential ids (UUIDs), in canonical form; anything else fails at start."""
    ids = set()
    for item in env.list(name, default=[]):
        try:
            ids.add(str(uuid.UUID(item.strip())))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a credential id (a UUID).") from None
    return frozenset(ids)


BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded default keeps its SQLite file, broker folders and uploads.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# ------------------------------------------------------------------------------
# Core
# https://docs.djangoproject.com/en/5.2/ref/settings/
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A secret has no default in production; only a debug run may use the dev key.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off "
            "(set DJANGO_DEBUG=1 for a local run)."
        )
    SECRET_KEY = "insecure-dev-key-only-for-DJANGO_DEBUG-runs"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "outbound",
    "schedules",
    "webhooks",
]

# HAProxy's buffer (bin/web exports it to gunicorn too): bodies that fit are
# read whole by the proxy; config/proxy.py drops what a view left unread of them.
WEB_BUFFER_SIZE = env.int("WEB_BUFFER_SIZE", default=1024 * 1024)

MIDDLEWARE = [
    # Outermost: after every answer, the rest of an unread body is read (config/proxy.py says why).
    "config.proxy.UnreadBodyDrainMiddleware",
    # Then the client's address from the web tier's proxy, before anything reads it (axes, logs).
    "config.proxy.ClientAddressMiddleware",
    "outbound.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "outbound.middleware.OperatorTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "outbound.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database: PostgreSQL in production and tests, SQLite as the embedded default.
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat write concurrently: WAL lets readers go on while one
    # writes, IMMEDIATE takes the write lock up front so transactions queue for
    # it instead of failing with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# ------------------------------------------------------------------------------
# Time: stored in UTC; the admin shows each operator's own zone.
# ------------------------------------------------------------------------------
USE_TZ = True
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = False

# ------------------------------------------------------------------------------
# Security: on unless debugging; `manage.py check --deploy` is clean with the
# production environment the README lists. Behind a TLS-terminating proxy
# that sets X-Forwarded-Proto.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and scrapers speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (django-csp): the admin and
# /v2/docs load scripts, styles, fonts and images from this origin only
# (images also as data: URIs, which the admin's and Swagger UI's CSS use),
# run no inline script or style, and may not be framed. The API's JSON is
# never rendered, so the same policy costs it nothing. docs/operations.md,
# "Content-Security-Policy", says what was checked in a browser.
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "data:"],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    },
}

# Admin logins: after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is locked out for the cool-off
# (django-axes; 429). A success resets the count; successes are not logged.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # its banner on every manage.py command; lockouts are rows operators see in the admin

# ------------------------------------------------------------------------------
# Static and uploaded files
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
# whitenoise warns at every start when the folder is missing (before collectstatic).
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "media/"
# Uploaded images ride in the request body: allow 10 files at the per-file limit.
OUTBOUND_MAX_UPLOAD_BYTES = env.int("OUTBOUND_MAX_UPLOAD_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 11 * OUTBOUND_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = OUTBOUND_MAX_UPLOAD_BYTES

# ------------------------------------------------------------------------------
# REST API
# https://www.django-rest-framework.org/api-guide/settings/
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["outbound.api.auth.ApiCredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["outbound.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["outbound.api.throttling.CredentialRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["outbound.api.renderers.RequestIdJSONRenderer"],
    # JSON everywhere, nesting bounded (outbound/api/parsers.py); POST /v2/outbound/sends also takes multipart (image uploads).
    "DEFAULT_PARSER_CLASSES": ["outbound.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "outbound.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "outbound.api.schema.OutboundAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# Rate limits: "<n>/<second|minute|hour|day>" (also "600/min"), or "off".
# Counted in Redis, shared by every web process; the embedded default
# (no Redis) counts per process.
API_RATE_LIMIT_PER_TOKEN = rate_setting("API_RATE_LIMIT_PER_TOKEN", default="600/minute")
API_RATE_LIMIT_PER_ACCOUNT = rate_setting("API_RATE_LIMIT_PER_ACCOUNT", default="1200/minute")
# Credentials (API token or API secret ids) whose requests are never counted nor
# refused: for an operator's own tools, such as bin/fuzz. Comma-separated UUIDs.
API_RATE_LIMIT_EXEMPT_CREDENTIALS = credential_ids_setting("API_RATE_LIMIT_EXEMPT_CREDENTIALS")
API_RATE_LIMIT_STORAGE_URL = env.str(
    "API_RATE_LIMIT_STORAGE_URL",
    default=_broker if (_broker := env.str("CELERY_BROKER_URL", default="")).startswith("redis") else "memory://",
)
# API secrets' keys are kept encrypted with these Fernet keys (newest first);
# empty: one derived from DJANGO_SECRET_KEY.
API_SECRETS_ENCRYPTION_KEYS = env.list("API_SECRETS_ENCRYPTION_KEYS", default=[])

SPECTACULAR_SETTINGS = {
    "TITLE": "Outbound WhatsApp sends API",
    "DESCRIPTION": "Send a WhatsApp message to 1-100 groups now or on a schedule.",
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "outbound.api.schema.close_request_bodies",
    ],
    # Swagger UI from our own static files: the docs work without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # schedules/urls.py: a run number, bounded by its column.
    "PATH_CONVERTER_OVERRIDES": {"occurrence": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647}},
    # No badge from validator.swagger.io: it would send our schema's URL there, and the CSP refuses its image.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "outbound.models.Delivery.Status",
        "ScheduleStatusEnum": "schedules.models.Schedule.Status",
        "RunStatusEnum": "schedules.models.Run.Status",
        "WebhookEndpointStatusEnum": "webhooks.models.WebhookEndpoint.Status",
        "AcceptedStatusEnum": ["accepted"],
        "AcceptStatusEnum": ["accepted", "duplicate_accepted"],
    },
}

# ------------------------------------------------------------------------------
# Celery
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Why each reliability setting is what it is: docs/operations.md.
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
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
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
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

# ------------------------------------------------------------------------------
# Metrics: Prometheus text at GET /metrics (docs/operations.md, "Metrics").
# https://prometheus.github.io/client_python/multiprocess/
# ------------------------------------------------------------------------------
# Every process of a host writes its counters to files in this folder (one
# per process; keep it per host, e.g. a tmpfs), and /metrics adds them up.
# prometheus-client reads it from the environment when it is first imported.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Scrapers send it as `Authorization: Bearer <token>`. Empty: /metrics is
# open in debug runs and refused otherwise.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# ------------------------------------------------------------------------------
# Logging: one line per event on stderr, for the process manager to collect:
# JSON (python-json-logger) in production, plain text in debug runs. State
# changes (send accepted, occurrence fired, delivery sent/failed, webhook
# delivered) carry their ids as fields; lines logged while serving a request
# carry its request_id (config/logging.py). Celery's processes use this too
# (config/celery_app.py).
# https://docs.djangoproject.com/en/5.2/topics/logging/
# ------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
        "text": {"()": "config.logging.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["stderr"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # One line per gateway request is noise at INFO; failures are logged by us.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # "<worker> ready." and "beat: Starting...": process managers, the e2e
        # tests and the benchmarks wait for them, whatever LOG_LEVEL says.
        "celery.apps.worker": {"level": "INFO"},
        "celery.beat": {"level": "INFO"},
    },
}
