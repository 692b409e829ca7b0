import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.models import Account

from .sessions import Group, Session


class MediaFile(models.Model):
    """An image uploaded with a multipart send, kept for every delivery (and run) that uses it."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="media_files")
    file = models.FileField("file", upload_to="uploads/%Y/%m/")
    filename = models.CharField("file name", max_length=255, help_text="As uploaded, e.g. promo.jpg.")
    mimetype = models.CharField("MIME type", max_length=100, help_text="Detected from the bytes, e.g. image/jpeg.")
    size = models.PositiveIntegerField("size in bytes")
    sha256 = models.CharField("SHA-256", max_length=64)
    created_at = models.DateTimeField("created at", auto_now_add=True)

    class Meta:
        verbose_name = "media file"

    def __str__(self):
        return self.filename


class Send(models.Model):
    """One message to 1-100 groups: the unit the API accepts."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted"  # deliveries queued, not all finished
        COMPLETED = "completed"  # every delivery reached the gateway
        COMPLETED_WITH_FAILURES = "completed_with_failures"  # some failed or expired

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="sends")
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="sends")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who asked for the send (the API token's user).",
    )
    text = models.TextField("text", blank=True, help_text="Text, or the caption of the first image.")
    media = models.JSONField(
        "media",
        default=list,
        blank=True,
        help_text='Images in order: {"url", "mimetype", "filename"} or {"file_id"} for an upload.',
    )
    variants = models.JSONField(
        "variants",
        default=list,
        blank=True,
        help_text='A/B variants: [{"variant_name", "text", "media", "percent_audience"}]; text and media then come from each delivery\'s variant.',
    )
    skip_within_hours = models.FloatField(
        "skip within hours", null=True, blank=True, help_text="Frequency cap applied when the send was made, e.g. 24."
    )
    status = models.CharField("status", max_length=32, choices=Status.choices, default=Status.ACCEPTED)
    # Set when a schedule's occurrence made this send. Plain values, not a
    # foreign key: outbound sits below schedules and must not depend on it.
    schedule_id = models.UUIDField("schedule id", null=True, blank=True, db_index=True)
    occurrence_number = models.PositiveIntegerField("occurrence", null=True, blank=True)
    request_id = models.CharField("request id", max_length=64, blank=True)
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)
    completed_at = models.DateTimeField("completed at", null=True, blank=True)

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

    id = models.UUIDField("recipient send id", primary_key=True, default=new_id, editable=False)
    # No index of its own: delivery_unique_group_per_send (send, group) serves
    # every lookup by send, and each delivery written would update both.
    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="deliveries")
    chat_id = models.CharField("chat id", max_length=100, help_text="The group's chat id when the send was made.")
    variant_name = models.CharField("variant", max_length=100, blank=True, help_text="The A/B variant this group got.")
    status = models.CharField("status", max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField("attempts", default=0, help_text="Gateway calls started so far.")
    max_send_attempts = models.PositiveIntegerField("max send attempts", help_text="e.g. 10")
    message_expiration_seconds = models.PositiveIntegerField("expiration (s)", help_text="e.g. 259200 (3 days)")
    expires_at = models.DateTimeField("expires at", help_text="Not sent after this: the delivery expires.")
    next_attempt_at = models.DateTimeField("next attempt at", help_text="Earliest time the next attempt may start.")
    enqueued_at = models.DateTimeField("enqueued at", null=True, blank=True, help_text="Last time a task was queued for it.")
    slot_at = models.DateTimeField(
        "send slot", null=True, blank=True, help_text="The session's pacing slot reserved for this delivery's next attempt."
    )
    unconfirmed = models.BooleanField(
        "unconfirmed",
        default=False,
        help_text="An attempt may have reached the gateway and no lookup has confirmed it since: "
        "if this delivery ends failed or expired, WhatsApp may still have the message.",
    )
    lease_expires_at = models.DateTimeField(
        "lease expires at",
        null=True,
        blank=True,
        help_text="While sending: after this the worker is presumed dead and the attempt ambiguous.",
    )
    parts_total = models.PositiveSmallIntegerField("parts", default=1, help_text="Gateway messages: one per image, or one text.")
    parts_sent = models.PositiveSmallIntegerField("parts sent", default=0)
    provider_message_ids = models.JSONField("provider message ids", default=list, blank=True)
    error_code = models.CharField("error code", max_length=64, blank=True, help_text="e.g. session_not_working")
    error_message = models.TextField("error message", blank=True)
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)
    last_attempted_at = models.DateTimeField("last attempted at", null=True, blank=True)
    sent_at = models.DateTimeField("sent at", null=True, blank=True)
    delivered_at = models.DateTimeField("delivered at", null=True, blank=True)
    read_at = models.DateTimeField("read at", null=True, blank=True)
    failed_at = models.DateTimeField("failed at", null=True, blank=True)
    expired_at = models.DateTimeField("expired at", null=True, blank=True)

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
