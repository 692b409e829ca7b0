"""A run: one occurrence of a schedule, claimed once."""

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q

from core.ids import new_id
from outbound.models import Send

from .schedules import Schedule


class Run(models.Model):
    """One occurrence of a schedule: claimed once, whatever fires it how often."""

    class Status(models.TextChoices):
        QUEUED = "queued"  # claimed by a backfill: starts when the schedule's runs before it have finished
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"  # fell due while the schedule was paused (paused), or while a run was sending (overlap)

    class Trigger(models.TextChoices):
        BEAT = "beat"
        OPERATOR = "operator"  # the admin's "run now"
        BACKFILL = "backfill"  # POST .../backfill

    # An occurrence that never sent and may be backfilled: skipped, or failed as missed.
    BACKFILLABLE = Q(status=Status.SKIPPED) | Q(status=Status.FAILED, error_code="missed")

    id = models.UUIDField(
        "run id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The run's id, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7800.",
    )
    schedule = models.ForeignKey(
        Schedule,
        on_delete=models.CASCADE,
        related_name="runs",
        verbose_name="schedule",
        help_text="The schedule this is an occurrence of, e.g. Ramadan promo 2026.",
    )
    occurrence_number = models.PositiveIntegerField("occurrence", help_text="Which occurrence, from 1, e.g. 3.")
    due_at = models.DateTimeField(
        "due at",
        help_text="The rule's due time of the occurrence (UTC), without jitter, e.g. 2026-03-03 09:00.",
    )
    jitter_offset_ms = models.BigIntegerField(
        "jitter offset (ms)", default=0, help_text="It was to fire this long after its due time (the schedule's jitter), e.g. 12000."
    )
    send = models.OneToOneField(
        Send,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="run",
        verbose_name="send",
        help_text="The send it made, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7500. "
        "Empty: it made none (skipped, missed, failed to start).",
    )
    status = models.CharField(
        "status",
        max_length=16,
        choices=Status.choices,
        default=Status.RUNNING,
        help_text="queued, running, completed, failed or skipped, e.g. completed.",
    )
    trigger = models.CharField(
        "trigger",
        max_length=16,
        choices=Trigger.choices,
        default=Trigger.BEAT,
        help_text="What fired it: beat, operator (run now) or backfill, e.g. beat.",
    )
    error_code = models.CharField(
        "error code", max_length=64, blank=True, help_text="e.g. missed, paused, overlap, session_not_working"
    )
    error_message = models.TextField(
        "error message",
        blank=True,
        help_text="Why it failed or was skipped, for humans, e.g. Fell due while the schedule was paused.",
    )
    started_at = models.DateTimeField("started at", help_text="When it was claimed (UTC), e.g. 2026-03-03 09:00:12.")
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-03 09:01.",
    )
    completed_at = models.DateTimeField(
        "completed at",
        null=True,
        blank=True,
        help_text="When its send finished (UTC), e.g. 2026-03-03 09:01. Empty: not completed.",
    )
    failed_at = models.DateTimeField(
        "failed at",
        null=True,
        blank=True,
        help_text="When it failed (UTC), e.g. 2026-03-03 09:05. Empty: not failed.",
    )
    retried_at = models.DateTimeField(
        "failed deliveries retried at",
        null=True,
        blank=True,
        help_text="When retry-failed re-queued its failed deliveries (once; UTC), e.g. 2026-03-03 10:00.",
    )

    class Meta:
        verbose_name = "run"
        ordering = ["occurrence_number"]
        constraints = [
            # The claim: however often an occurrence is fired, it runs once.
            models.UniqueConstraint(fields=["schedule", "occurrence_number"], name="run_unique_occurrence"),
        ]

    def __str__(self):
        return f"{self.schedule_id} #{self.occurrence_number}"

    @property
    def fire_at(self) -> datetime:
        """When it was to fire: its due time plus its jitter offset."""
        return self.due_at + timedelta(milliseconds=self.jitter_offset_ms)
