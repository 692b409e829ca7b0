import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.models import Account

from .content import MessageContent
from .sessions import Group, Session


class MediaFile(models.Model):
    """An image uploaded with a multipart send, kept for every delivery (and run) that uses it."""

    id = models.UUIDField(
        "id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="What a send's media names it by ({\"file_id\": ...}), e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7400.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="media_files",
        verbose_name="account",
        help_text="The account that uploaded it, e.g. Acme.",
    )
    file = models.FileField(
        "file",
        upload_to="uploads/%Y/%m/",
        help_text="The stored image, e.g. uploads/2026/03/promo.jpg.",
    )
    filename = models.CharField("file name", max_length=255, help_text="As uploaded, e.g. promo.jpg.")
    mimetype = models.CharField("MIME type", max_length=100, help_text="Detected from the bytes, e.g. image/jpeg.")
    size = models.PositiveIntegerField(
        "size in bytes",
        help_text="Bytes stored, e.g. 183204; at most OUTBOUND_MAX_UPLOAD_BYTES.",
    )
    sha256 = models.CharField(
        "SHA-256",
        max_length=64,
        help_text="Of the bytes, e.g. 9f86d081884c7d65... (64 hex digits): a retry's upload must match it.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was uploaded (UTC), e.g. 2026-03-01 09:30.",
    )

    class Meta:
        verbose_name = "media file"

    def __str__(self):
        return self.filename


class Send(MessageContent):
    """One message to 1-100 groups: the unit the API accepts."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted"  # deliveries queued, not all finished
        COMPLETED = "completed"  # every delivery reached the gateway
        COMPLETED_WITH_FAILURES = "completed_with_failures"  # some failed or expired

    id = models.UUIDField(
        "send id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The send_id the API answered with, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7500.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="sends",
        verbose_name="account",
        help_text="The customer account it was sent for, e.g. Acme.",
    )
    session = models.ForeignKey(
        Session,
        on_delete=models.PROTECT,
        related_name="sends",
        verbose_name="session",
        help_text="The WhatsApp number it is sent from, e.g. acme-sales.",
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="created by",
        help_text="Who asked for the send (the API token's user), e.g. frontend@acme.example.",
    )
    # text, media, variants, skip_within_hours: MessageContent's.
    status = models.CharField(
        "status",
        max_length=32,
        choices=Status.choices,
        default=Status.ACCEPTED,
        help_text="accepted while deliveries are unfinished, then completed or completed_with_failures, e.g. "
        "completed.",
    )
    # Set when a schedule's occurrence made this send. Plain values, not a
    # foreign key: outbound sits below schedules and must not depend on it.
    schedule_id = models.UUIDField(
        "schedule id",
        null=True,
        blank=True,
        db_index=True,
        help_text="The schedule whose occurrence made it, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7600. "
        "Empty: an immediate send.",
    )
    occurrence_number = models.PositiveIntegerField(
        "occurrence",
        null=True,
        blank=True,
        help_text="Which occurrence of that schedule, e.g. 3. Empty: an immediate send.",
    )
    request_id = models.CharField(
        "request id",
        max_length=64,
        blank=True,
        help_text="The X-Request-ID of the request that made it, for logs, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7c00.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was accepted (UTC), e.g. 2026-03-01 09:30.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:31.",
    )
    completed_at = models.DateTimeField(
        "completed at",
        null=True,
        blank=True,
        help_text="When its last delivery finished (UTC), e.g. 2026-03-01 09:31. Empty: still sending.",
    )

    class Meta:
        verbose_name = "send"

    def __str__(self):
        return str(self.id)


class Delivery(models.Model):
    """The message to one group of a send: the row every side effect is claimed on.

    queued -> sending -> sent -> delivered -> read, or -> failed / expired.
    A worker moves queued -> sending with a conditional UPDATE before it calls
    the gateway, so a task delivered twice finds nothing to claim.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"
        EXPIRED = "expired"
        SKIPPED = "skipped"  # not sent on purpose (frequency cap), with the reason

    # A send is finished when every delivery is in one of these.
    FINISHED = (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED, Status.EXPIRED, Status.SKIPPED)
    UNSUCCESSFUL = (Status.FAILED, Status.EXPIRED)
    UNFINISHED = (Status.QUEUED, Status.SENDING)

    id = models.UUIDField(
        "recipient send id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The recipient_send_id the API answered with, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7700.",
    )
    # No index of its own: delivery_unique_group_per_send (send, group) serves
    # every lookup by send, and each delivery written would update both.
    send = models.ForeignKey(
        Send,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name="send",
        help_text="The send this is one group of, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7500.",
    )
    group = models.ForeignKey(
        Group,
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name="group",
        help_text="The group it goes to, e.g. Cairo resellers.",
    )
    chat_id = models.CharField(
        "chat id",
        max_length=100,
        help_text="The group's chat id when the send was made, e.g. 120363040000000000@g.us.",
    )
    variant_name = models.CharField(
        "variant",
        max_length=100,
        blank=True,
        help_text="The A/B variant this group got, e.g. A. Empty: the send has no variants.",
    )
    status = models.CharField(
        "status",
        max_length=16,
        choices=Status.choices,
        default=Status.QUEUED,
        help_text="queued, sending, sent, delivered, read, failed, expired or skipped, e.g. sent.",
    )
    attempts = models.PositiveIntegerField("attempts", default=0, help_text="Gateway calls started so far, e.g. 1.")
    max_send_attempts = models.PositiveIntegerField(
        "max send attempts",
        help_text="Attempts allowed before it fails, e.g. 10.",
    )
    message_expiration_seconds = models.PositiveIntegerField(
        "expiration (s)",
        help_text="How long it may wait to be sent, e.g. 259200 (3 days).",
    )
    expires_at = models.DateTimeField(
        "expires at",
        help_text="Not sent after this: the delivery expires (UTC), e.g. 2026-03-04 09:30.",
    )
    next_attempt_at = models.DateTimeField(
        "next attempt at",
        help_text="Earliest time the next attempt may start (UTC), e.g. 2026-03-01 09:32.",
    )
    enqueued_at = models.DateTimeField(
        "enqueued at",
        null=True,
        blank=True,
        help_text="Last time a task was queued for it (UTC), e.g. 2026-03-01 09:30.",
    )
    slot_at = models.DateTimeField(
        "send slot",
        null=True,
        blank=True,
        help_text="The session's pacing slot reserved for this delivery's next attempt (UTC), e.g. "
        "2026-03-01 09:30:04.",
    )
    typing_ms = models.PositiveIntegerField(
        "typing (ms)",
        null=True,
        blank=True,
        help_text="Human-like sends: how long the session showed typing before this message, e.g. 2400. "
        "Empty: sent without typing.",
    )
    typing_started_at = models.DateTimeField(
        "typing started at",
        null=True,
        blank=True,
        help_text="When this attempt marked the chat seen and started typing (UTC); the message goes out "
        "typing_ms later, e.g. 2026-03-01 09:30:04.",
    )
    unconfirmed = models.BooleanField(
        "unconfirmed",
        default=False,
        help_text="An attempt may have reached the gateway and no lookup has confirmed it since: "
        "if this delivery ends failed or expired, WhatsApp may still have the message, e.g. "
        "on after a gateway timeout.",
    )
    lease_expires_at = models.DateTimeField(
        "lease expires at",
        null=True,
        blank=True,
        help_text="While sending: after this the worker is presumed dead and the attempt ambiguous (UTC), e.g. "
        "2026-03-01 09:31.",
    )
    parts_total = models.PositiveSmallIntegerField(
        "parts",
        default=1,
        help_text="Gateway messages: one per image, or one text, e.g. 3 for three images.",
    )
    parts_sent = models.PositiveSmallIntegerField(
        "parts sent",
        default=0,
        help_text="Of those, how many the gateway accepted, e.g. 2.",
    )
    provider_message_ids = models.JSONField(
        "provider message ids",
        default=list,
        blank=True,
        help_text="The gateway's id of each part sent, e.g. [\"true_120363040000000000@g.us_3EB0...\"].",
    )
    error_code = models.CharField(
        "error code",
        max_length=64,
        blank=True,
        help_text="Why it failed, expired or was skipped, e.g. session_not_working.",
    )
    error_message = models.TextField(
        "error message",
        blank=True,
        help_text="The same for humans, e.g. The session is not WORKING (status STOPPED).",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When the send was made (UTC), e.g. 2026-03-01 09:30.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:31.",
    )
    last_attempted_at = models.DateTimeField(
        "last attempted at",
        null=True,
        blank=True,
        help_text="When the last attempt started (UTC), e.g. 2026-03-01 09:30.",
    )
    sent_at = models.DateTimeField(
        "sent at",
        null=True,
        blank=True,
        help_text="When the gateway accepted the last part (UTC), e.g. 2026-03-01 09:30.",
    )
    delivered_at = models.DateTimeField(
        "delivered at",
        null=True,
        blank=True,
        help_text="When WhatsApp reported it delivered (UTC), e.g. 2026-03-01 09:31.",
    )
    read_at = models.DateTimeField(
        "read at",
        null=True,
        blank=True,
        help_text="When WhatsApp reported it read (UTC), e.g. 2026-03-01 09:40.",
    )
    failed_at = models.DateTimeField(
        "failed at",
        null=True,
        blank=True,
        help_text="When it failed (UTC), e.g. 2026-03-01 09:35.",
    )
    expired_at = models.DateTimeField(
        "expired at",
        null=True,
        blank=True,
        help_text="When it expired unsent (UTC), e.g. 2026-03-04 09:30.",
    )

    class Meta:
        verbose_name = "delivery"
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["send", "group"], name="delivery_unique_group_per_send"),
        ]
        indexes = [
            # deliveries_sweep: unfinished deliveries whose task may have been lost.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="delivery_unfinished_idx",
                condition=Q(status__in=["queued", "sending"]),
            ),
            # The frequency cap: did this group get a message since <moment>?
            models.Index(fields=["group", "sent_at"], name="delivery_group_sent_idx", condition=Q(sent_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.chat_id} ({self.status})"

    @property
    def provider_message_id(self):
        return self.provider_message_ids[0] if self.provider_message_ids else None

    def gateway_message_id(self, part: int) -> str:
        """The id we ask the gateway to give part `part`: the same on every attempt.

        Shaped like a WhatsApp Web id ("3EB0" + 36 hex digits, 40 in all, as
        Baileys makes them) so a gateway that checks the shape accepts it.
        Deterministic, so an ambiguous attempt can be looked up and, if
        absent, resent under the same id; and it carries the delivery id and
        part, so a delivery receipt (WAHA message.ack) finds its delivery
        without a lookup table.
        """
        return f"3EB0{self.id.hex.upper()}{part:04X}"

    @staticmethod
    def from_gateway_message_id(message_id: str) -> tuple[uuid.UUID, int] | None:
        """(delivery id, part) from one of our message ids, raw or serialized (true_<chat>_<id>)."""
        raw = message_id.rsplit("_", 1)[-1]
        if len(raw) != 40 or not raw.startswith("3EB0"):
            return None
        try:
            return uuid.UUID(hex=raw[4:36]), int(raw[36:], 16)
        except ValueError:
            return None
