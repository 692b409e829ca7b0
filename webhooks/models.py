"""Customer webhook endpoints, the messages queued for them, and every attempt to deliver one."""

from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.models import Account, Event
from core.secretbox import EncryptedTextField


class WebhookEndpoint(models.Model):
    id = models.UUIDField(
        "endpoint id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The endpoint's id in the API (/v2/webhooks), e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7900.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name="account",
        help_text="The customer account whose events it receives, e.g. Acme.",
    )
    url = models.URLField("URL", max_length=2048, help_text="http(s) URL events are POSTed to, e.g. https://crm.example/hooks/wa.")
    description = models.CharField(
        "description",
        max_length=300,
        blank=True,
        help_text="What it is for, for humans, e.g. CRM delivery receipts.",
    )
    events = models.JSONField(
        "events", default=list, help_text='Event types to receive, e.g. ["message.notification.sent"]; ["*"] for all.'
    )
    enabled = models.BooleanField(
        "enabled",
        default=True,
        help_text="Off: nothing is sent (messages wait), e.g. off while the receiving system is down for maintenance.",
    )
    # Encrypted at rest as API secret keys are (core.secretbox): signing needs the secret itself.
    secret = EncryptedTextField(
        "signing secret",
        editable=False,
        help_text="Signs every message (Standard Webhooks webhook-signature), encrypted at rest, e.g. "
        "whsec_MfKQ9r8G... (whsec_ and base64).",
    )
    previous_secret = EncryptedTextField(
        "previous secret",
        blank=True,
        editable=False,
        help_text="The secret before the last rotation, still signing until it expires, e.g. whsec_C2FVsBQI... "
        "Empty: no rotation under way.",
    )
    previous_secret_expires_at = models.DateTimeField(
        "previous secret valid until",
        null=True,
        blank=True,
        editable=False,
        help_text="During a rotation messages carry signatures with both secrets until then (UTC), e.g. "
        "2026-03-02 09:00.",
    )
    failing_since = models.DateTimeField(
        "failing since",
        null=True,
        blank=True,
        help_text="First failure since the last success (UTC), e.g. 2026-03-01 09:30. Empty: not failing.",
    )
    disabled_reason = models.CharField(
        "disabled because", max_length=300, blank=True, help_text="Set when the system turned it off, e.g. 410 Gone."
    )
    disabled_at = models.DateTimeField(
        "disabled at",
        null=True,
        blank=True,
        editable=False,
        help_text="When the system turned it off (410, or failing too long or too often; "
        "UTC), e.g. 2026-03-04 09:30; empty while it may receive.",
    )
    consecutive_failures = models.PositiveIntegerField(
        "failures in a row", default=0, editable=False,
        help_text="Failed attempts since its last success, e.g. 12; WEBHOOKS_DISABLE_AFTER_FAILURES of them turn it off.",
    )
    dispatch_lease_until = models.DateTimeField(
        "dispatch lease until",
        null=True,
        blank=True,
        editable=False,
        help_text="A dispatcher is sending its messages until then (UTC), e.g. 2026-03-01 09:30:30; another waits.",
    )
    receiving_since = models.DateTimeField(
        "receiving since",
        null=True,
        blank=True,
        editable=False,
        help_text="When it was created or last turned on (UTC), e.g. "
        "2026-03-01 09:00: it gets the events written from then on.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was created (UTC), e.g. 2026-03-01 09:00.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:00.",
    )

    class Meta:
        verbose_name = "webhook endpoint"
        indexes = [
            # endpoints_catch_up: endpoints turned on in the last few minutes.
            models.Index(fields=["receiving_since"], name="webhook_endpoint_since_idx"),
        ]

    def __str__(self):
        return self.url

    class Status(models.TextChoices):
        ACTIVE = "active"  # receives events
        OFF = "off"  # the customer turned it off (enabled=false)
        DISABLED = "disabled"  # the system turned it off: disabled_reason, disabled_at

    @property
    def status(self) -> str:
        if self.disabled_reason:
            return self.Status.DISABLED
        return self.Status.ACTIVE if self.enabled else self.Status.OFF

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookMessage(models.Model):
    """One event for one endpoint: what its `webhook-id` names, stable across retries."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its (next) attempt
        SENDING = "sending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # out of attempts, or the endpoint answered 410

    id = models.UUIDField(
        "message id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="Its webhook-id header is msg_ and this id's hex, stable across retries, e.g. "
        "018f06e2-4f8d-7c01-8a0d-cc6fd78f7a00.",
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name="endpoint",
        help_text="The endpoint it goes to, e.g. https://crm.example/hooks/wa.",
    )
    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="event",
        help_text="The event it carries, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7b00.",
    )
    event_type = models.CharField(
        "event type",
        max_length=64,
        help_text="The event's type, e.g. message.notification.sent.",
    )
    status = models.CharField(
        "status",
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="pending, sending, succeeded or failed, e.g. succeeded.",
    )
    attempts = models.PositiveIntegerField("attempts", default=0, help_text="Deliveries tried so far, e.g. 2.")
    next_attempt_at = models.DateTimeField(
        "next attempt at",
        help_text="Earliest time of the next attempt (UTC), e.g. 2026-03-01 09:35.",
    )
    last_status_code = models.PositiveIntegerField(
        "last HTTP status",
        null=True,
        blank=True,
        help_text="HTTP status of the last attempt, e.g. 200. Empty: no answer (timeout, refused).",
    )
    delivered_at = models.DateTimeField(
        "delivered at",
        null=True,
        blank=True,
        help_text="When the endpoint accepted it (UTC), e.g. 2026-03-01 09:30. Empty: not yet.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When the event was queued for this endpoint (UTC), e.g. 2026-03-01 09:30.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:30.",
    )

    class Meta:
        verbose_name = "webhook message"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_message_once_per_event")]
        indexes = [
            # The dispatcher: an endpoint's due messages, oldest event first.
            models.Index(fields=["endpoint", "next_attempt_at"], name="webhook_message_due_idx", condition=Q(status="pending")),
            # webhook_messages_purge: finished messages, longest finished first.
            models.Index(
                fields=["updated_at"], name="webhook_message_finished_idx", condition=Q(status__in=["succeeded", "failed"])
            ),
        ]

    def __str__(self):
        return self.webhook_id

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class WebhookAttempt(models.Model):
    message = models.ForeignKey(
        WebhookMessage,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name="message",
        help_text="The message this attempt tried to deliver, e.g. msg_018f06e24f8d7c018a0dcc6fd78f7a00.",
    )
    attempted_at = models.DateTimeField(
        "attempted at",
        auto_now_add=True,
        help_text="When it started (UTC), e.g. 2026-03-01 09:30.",
    )
    status_code = models.PositiveIntegerField(
        "HTTP status",
        null=True,
        blank=True,
        help_text="The endpoint's HTTP status, e.g. 503. Empty: no answer (timeout, refused).",
    )
    latency_ms = models.PositiveIntegerField(
        "latency (ms)",
        null=True,
        blank=True,
        help_text="How long the endpoint took to answer, e.g. 240.",
    )
    response_excerpt = models.TextField(
        "response (first 500 chars)",
        blank=True,
        help_text="The start of the endpoint's answer, for debugging, e.g. Service Unavailable.",
    )
    error = models.CharField(
        "error",
        max_length=300,
        blank=True,
        help_text="Why it failed without an HTTP answer, e.g. timeout after 10 s.",
    )

    class Meta:
        verbose_name = "webhook attempt"
        ordering = ["attempted_at"]
