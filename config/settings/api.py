"""The REST API: DRF, rate limits, credentials, the OpenAPI schema."""

from core.redis_clients import limits_storage_url

from .environment import credential_ids_setting, env, rate_setting

# ------------------------------------------------------------------------------
# REST API
# https://www.django-rest-framework.org/api-guide/settings/
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.api.auth.ApiCredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.CredentialRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["core.api.renderers.RequestIdJSONRenderer"],
    # JSON everywhere, nesting bounded (core/api/parsers.py); POST /v2/outbound/sends also takes multipart (image uploads).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.OutboundAutoSchema",
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
    default=limits_storage_url(env.str("CELERY_BROKER_URL", default=""), env.str("CELERY_BROKER_MASTER_NAME", default="")),
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
        "core.api.schema.close_request_bodies",
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
