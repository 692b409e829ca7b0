from django.db import models


class ProviderEvent(models.Model):
    """A gateway callback already processed: WAHA retries, so each event id counts once."""

    id = models.CharField("event id", max_length=100, primary_key=True, help_text="WAHA's event id, e.g. evt_01h...")
    type = models.CharField("type", max_length=64, help_text="e.g. message.ack")
    received_at = models.DateTimeField("received at", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "provider event"

    def __str__(self):
        return self.id
