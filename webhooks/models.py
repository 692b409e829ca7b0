"""Customer webhook endpoints, the messages queued for them, and every attempt to deliver one."""

from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.models import Account, Event
from core.secretbox import EncryptedTextField


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField("URL", max_length=2048, help_text="http(s) URL events are POSTed to, e.g. https://crm.example/hooks/wa.")
    description = models.CharField("description", max_length=300, blank=True)
    events = models.JSONField(
        "events", default=list, help_text='Event types to receive, e.g. ["message.notification.sent"]; ["*"] for all.'
    )
    enabled = models.BooleanField("enabled", default=True, help_text="Off: nothing is sent (messages wait).")
    # Encrypted at rest as API secret keys are (core.secretbox): signing needs the secret itself.
    secret = EncryptedTextField("signing secret", editable=False)
    previous_secret = EncryptedTextField("previous secret", blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(
        "previous secret valid until", null=True, blank=True, editable=False,
        help_text="During a rotation messages carry signatures with both secrets until then.",
    )
    failing_since = models.DateTimeField("failing since", null=True, blank=True, help_text="First failure since the last success.")
    disabled_reason = models.CharField(
        "disabled because", max_length=300, blank=True, help_text="Set when the system turned it off, e.g. 410 Gone."
    )
    disabled_at = models.DateTimeField(
        "disabled at", null=True, blank=True, editable=False,
        help_text="When the system turned it off (410, or failing too long or too often); empty while it may receive.",
    )
    consecutive_failures = models.PositiveIntegerField(
        "failures in a row", default=0, editable=False,
        help_text="Failed attempts since its last success, e.g. 12; WEBHOOKS_DISABLE_AFTER_FAILURES of them turn it off.",
    )
    dispatch_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    receiving_since = models.DateTimeField(
        "receiving since",
        null=True,
        blank=True,
        editable=False,
        help_text="When it was created or last turned on: it gets the events written from then on.",
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)

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

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField("event type", max_length=64)
    status = models.CharField("status", max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField("attempts", default=0)
    next_attempt_at = models.DateTimeField("next attempt at")
    last_status_code = models.PositiveIntegerField("last HTTP status", null=True, blank=True)
    delivered_at = models.DateTimeField("delivered at", null=True, blank=True)
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)

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
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField("attempted at", auto_now_add=True)
    status_code = models.PositiveIntegerField("HTTP status", null=True, blank=True)
    latency_ms = models.PositiveIntegerField("latency (ms)", null=True, blank=True)
    response_excerpt = models.TextField("response (first 500 chars)", blank=True)
    error = models.CharField("error", max_length=300, blank=True, help_text="e.g. timeout after 10 s")

    class Meta:
        verbose_name = "webhook attempt"
        ordering = ["attempted_at"]
