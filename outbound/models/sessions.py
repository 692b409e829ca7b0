from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models

from core.ids import new_id
from core.models import Account
from core.zones import zone_name_validate

group_chat_id_validator = RegexValidator(
    r"^[0-9]+(-[0-9]+)?@g\.us$",
    # WAHA treats a chat id without "@" as a person: refuse anything but a group.
    message="A group chat id looks like 120363040000000000@g.us.",
    code="invalid_chat_id",
)


def default_messages_per_minute():
    return settings.OUTBOUND_SESSION_MESSAGES_PER_MINUTE


def default_send_delay_max_ms():
    return settings.OUTBOUND_SESSION_SEND_DELAY_MAX_MS


def default_human_like():
    return settings.OUTBOUND_SESSION_HUMAN_LIKE


# Bounds on the typing settings (API, admin, database): WhatsApp stops
# showing "typing..." on its own after some 25 seconds, so a minute is plenty.
TYPING_MS_LIMIT = 60_000
TYPING_MS_PER_CHAR_LIMIT = 1_000


class Session(models.Model):
    """A WhatsApp instance on the gateway (WAHA calls it a session)."""

    class Role(models.TextChoices):
        SENDING = "sending"
        RECEIVING = "receiving"

    class Status(models.TextChoices):
        STOPPED = "STOPPED"
        STARTING = "STARTING"
        SCAN_QR_CODE = "SCAN_QR_CODE"
        WORKING = "WORKING"
        FAILED = "FAILED"
        # Newer WAHA releases; neither can send.
        PASSKEY_REQUIRED = "PASSKEY_REQUIRED"
        PASSKEY_CONFIRMATION_REQUIRED = "PASSKEY_CONFIRMATION_REQUIRED"

    id = models.UUIDField(
        "id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The session's id in the API (GET /v2/sessions), e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7070.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name="account",
        help_text="The customer account that owns the session, e.g. Acme.",
    )
    name = models.CharField(
        "gateway name",
        max_length=100,
        unique=True,
        help_text="The session's name on the gateway, e.g. acme-sales. Unique per gateway.",
    )
    label = models.CharField(
        "label", max_length=200, blank=True, help_text="Human label, e.g. Sales line (+20 100 ...)."
    )
    role = models.CharField(
        "role",
        max_length=16,
        choices=Role.choices,
        default=Role.SENDING,
        help_text="sending or receiving, e.g. sending: only sending sessions can be used for outbound sends.",
    )
    status = models.CharField(
        "status",
        max_length=40,
        choices=Status.choices,
        default=Status.STOPPED,
        help_text="Last status seen on the gateway, e.g. WORKING; only WORKING sessions send.",
    )
    status_changed_at = models.DateTimeField(
        "status changed at",
        null=True,
        blank=True,
        help_text="When the gateway last reported a different status (UTC), e.g. 2026-03-01 09:30.",
    )
    phone_number = models.CharField(
        "phone number",
        max_length=32,
        blank=True,
        help_text="The WhatsApp number this session sends from, as the gateway reports it (me.id), e.g. +201234567890.",
    )
    messages_per_minute = models.PositiveIntegerField(
        "messages per minute",
        null=True,
        blank=True,
        default=default_messages_per_minute,
        help_text="Most messages this number sends in any minute, across all workers, e.g. 30. Empty: no limit.",
    )
    send_delay_min_ms = models.PositiveIntegerField(
        "extra gap min (ms)", default=0, help_text="A random extra gap between messages, at least this, e.g. 0."
    )
    send_delay_max_ms = models.PositiveIntegerField(
        "extra gap max (ms)",
        default=default_send_delay_max_ms,
        help_text="...and at most this, e.g. 2000: WhatsApp flags numbers that send in a steady burst.",
    )
    ack_error_streak = models.PositiveIntegerField(
        "ack errors in a row",
        default=0,
        editable=False,
        help_text="Deliveries in a row the gateway reported failed (ack ERROR, -1) since one was delivered, e.g. 3; "
        "OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS of them while WORKING make the session unhealthy.",
    )
    unhealthy_since = models.DateTimeField(
        "unhealthy since",
        null=True,
        blank=True,
        editable=False,
        help_text="When the service judged the session unhealthy and paused its schedules (UTC), e.g. 2026-03-01 09:40. "
        "Empty: healthy. Cleared when it is WORKING again or a message is delivered.",
    )
    unhealthy_reason = models.CharField(
        "unhealthy reason",
        max_length=300,
        blank=True,
        editable=False,
        help_text="Why, e.g. STOPPED for over 600 s, or 5 deliveries in a row failed (ack ERROR) while WORKING.",
    )
    human_like = models.BooleanField(
        "human-like sends",
        default=default_human_like,
        help_text="Before each message, mark the chat seen and show typing for a while, then send, e.g. on. "
        "Typing time counts inside the pacing. Off for sessions made before this existed.",
    )
    typing_ms_min = models.PositiveIntegerField(
        "typing min (ms)",
        default=1_000,
        validators=[MaxValueValidator(TYPING_MS_LIMIT)],
        help_text="Shortest typing time, however short the text, e.g. 1000.",
    )
    typing_ms_max = models.PositiveIntegerField(
        "typing max (ms)",
        default=8_000,
        validators=[MaxValueValidator(TYPING_MS_LIMIT)],
        help_text="Longest typing time, however long the text, e.g. 8000 (at most 60000).",
    )
    typing_ms_per_char = models.PositiveIntegerField(
        "typing per character (ms)",
        default=40,
        validators=[MaxValueValidator(TYPING_MS_PER_CHAR_LIMIT)],
        help_text="How typing time grows with the text: min + this x characters, +-20% at random, "
        "kept within min..max, e.g. 40.",
    )
    next_send_slot_at = models.DateTimeField(
        "next send slot",
        null=True,
        blank=True,
        editable=False,
        help_text="When the pacing lets this number send next (UTC), e.g. 2026-03-01 09:30:02.",
    )
    # Daily cap, warm-up and quiet hours (outbound/services/sending_windows.py):
    # counted and applied under this row's lock in pacing.send_slot_reserve.
    time_zone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        default="",
        validators=[zone_name_validate],
        help_text="IANA zone of this number's local day (daily cap) and of its quiet hours, e.g. Africa/Cairo. Empty: UTC.",
    )
    daily_message_cap = models.PositiveIntegerField(
        "daily message cap",
        null=True,
        blank=True,
        help_text="Most messages this number sends in one local day, e.g. 200; more wait for the next day. Empty: no cap.",
    )
    warmup_first_day_cap = models.PositiveIntegerField(
        "warm-up day 1 cap",
        null=True,
        blank=True,
        help_text="A new number's cap on its first warm-up day, rising linearly to the daily cap, e.g. 20. Empty: no warm-up.",
    )
    warmup_days = models.PositiveSmallIntegerField(
        "warm-up days",
        default=0,
        help_text="Days the warm-up takes to reach the daily cap (day N sends the full cap), e.g. 14. 0: no warm-up.",
    )
    warmup_started_at = models.DateField(
        "warm-up started on",
        null=True,
        blank=True,
        help_text="Local date of warm-up day 1, e.g. 2026-03-01. Empty with a warm-up: the day it was set.",
    )
    cap_day = models.DateField(
        "cap day",
        null=True,
        blank=True,
        editable=False,
        help_text="The local day cap_day_count counts, e.g. 2026-03-01; a new day starts it at 0.",
    )
    cap_day_count = models.PositiveIntegerField(
        "messages this day",
        default=0,
        editable=False,
        help_text="Messages given a send slot on cap_day, e.g. 37 (counted under this row's lock).",
    )
    quiet_hours_start = models.TimeField(
        "quiet hours start",
        null=True,
        blank=True,
        help_text="Local time (session zone) from which nothing is sent, e.g. 22:00. Empty: the account's quiet hours apply.",
    )
    quiet_hours_end = models.TimeField(
        "quiet hours end",
        null=True,
        blank=True,
        help_text="Local time at which sending resumes, e.g. 08:00 (before the start: the window crosses midnight).",
    )
    quiet_hours_days = models.JSONField(
        "quiet hours days",
        default=list,
        blank=True,
        help_text="ISO weekdays (1 = Monday) on which a window starts, e.g. [5, 6]. Empty: every day.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was first seen on the gateway (UTC), e.g. 2026-03-01 09:30.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:30.",
    )

    class Meta:
        verbose_name = "session"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(typing_ms_min__lte=models.F("typing_ms_max")), name="session_typing_min_within_max"
            ),
        ]

    def __str__(self):
        return self.label or self.name


class Group(models.Model):
    """A WhatsApp group the account can send to."""

    id = models.UUIDField(
        "id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The group's id in the API (GET /v2/groups, a send's group_ids), e.g. "
        "018f06e2-4f8d-7c01-8a0d-cc6fd78f7300.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="groups",
        verbose_name="account",
        help_text="The customer account that can send to it, e.g. Acme.",
    )
    chat_id = models.CharField(
        "chat id",
        max_length=100,
        validators=[group_chat_id_validator],
        help_text="WhatsApp group id, ending in @g.us, e.g. 120363040000000000@g.us.",
    )
    name = models.CharField(
        "name",
        max_length=200,
        blank=True,
        help_text="Group subject on WhatsApp, e.g. Cairo resellers.",
    )
    sessions = models.ManyToManyField(
        Session,
        related_name="groups",
        blank=True,
        verbose_name="sessions",
        help_text="Sessions whose WhatsApp number is a member of this group, e.g. acme-sales.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was first seen (UTC), e.g. 2026-03-01 09:30.",
    )

    class Meta:
        verbose_name = "group"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "chat_id"], name="group_unique_chat_per_account"),
        ]

    def __str__(self):
        return self.name or self.chat_id
