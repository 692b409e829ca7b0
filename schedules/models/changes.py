"""The audit trail of a schedule's edits."""


from django.conf import settings
from django.db import models

from .schedules import Schedule


class ScheduleChange(models.Model):
    """Audit trail of edits: who changed what, when (text as hashes, never in clear)."""

    schedule = models.ForeignKey(
        Schedule,
        on_delete=models.CASCADE,
        related_name="changes",
        verbose_name="schedule",
        help_text="The schedule edited, e.g. Ramadan promo 2026.",
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="by",
        help_text="Who made the change, e.g. ops@acme.example. Empty: the system.",
    )
    source = models.CharField(
        "source",
        max_length=32,
        help_text="api, admin, periodic_task (an operator acting on the schedule's PeriodicTask), or "
        "session_unhealthy (the system paused it: its session was unhealthy), e.g. admin.",
    )
    changes = models.JSONField(
        "changes",
        help_text='{"field": [old, new]}; text fields as {"sha256", "length"}, e.g. '
        '{"interval_ms": [3600000, 7200000]}.',
    )
    changed_at = models.DateTimeField("changed at", auto_now_add=True, help_text="When (UTC), e.g. 2026-03-02 11:15.")

    class Meta:
        verbose_name = "schedule change"
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{self.schedule_id} {', '.join(self.changes)}"
