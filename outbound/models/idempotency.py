from django.db import models

from core.jsoncolumns import ColumnJSONEncoder
from core.models import Account


class IdempotencyKey(models.Model):
    """A client's idempotency key and the response its first request got."""

    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="idempotency_keys",
        verbose_name="account",
        help_text="The account whose request carried the key, e.g. Acme: keys are per account.",
    )
    key = models.CharField("key", max_length=200, help_text="As sent by the client, e.g. frontend-outbound-018f06e2.")
    request_hash = models.CharField(
        "request hash",
        max_length=64,
        help_text="SHA-256 of the normalised request; a reuse must match it, e.g. 9f86d081884c7d65... (64 hex digits).",
    )
    response = models.JSONField(
        "response",
        encoder=ColumnJSONEncoder,
        help_text="Body returned to the first request, returned again to its retries, e.g. "
        '{"status": "accepted", "send": {...}}.',
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When the first request was accepted (UTC), e.g. 2026-03-01 09:30.",
    )
    expires_at = models.DateTimeField(
        "expires at",
        help_text="After this the key may be reused (UTC), e.g. "
        "2026-03-02 09:30 (IDEMPOTENCY_KEY_TTL_HOURS after creation).",
    )

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="idempotency_key_unique_per_account"),
        ]
        indexes = [
            # idempotency_keys_purge: expired keys.
            models.Index(fields=["expires_at"], name="idempotency_expires_idx"),
        ]

    def __str__(self):
        return self.key
