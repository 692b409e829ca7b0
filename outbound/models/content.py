from django.db import models


class MessageContent(models.Model):
    """What a message says: declared once for an immediate Send and for a Schedule (each occurrence sends it)."""

    text = models.TextField(
        "text",
        blank=True,
        help_text="The message, or the caption of the first image, e.g. Doors open at 9. Empty when variants carry it.",
    )
    media = models.JSONField(
        "media",
        default=list,
        blank=True,
        help_text='Images in order: {"url", "mimetype", "filename"}, or {"file_id"} for an upload, '
        'e.g. [{"url": "https://shop.example/a.jpg"}].',
    )
    variants = models.JSONField(
        "variants",
        default=list,
        blank=True,
        help_text='A/B variants instead of text and media, each group getting one, e.g. [{"variant_name": "A", '
        '"text": "Hi", "media": [], "percent_audience": 60}, ...]; percents sum to 100.',
    )
    skip_within_hours = models.FloatField(
        "skip within hours",
        null=True,
        blank=True,
        help_text="Frequency cap: skip a group that got a message from this account in the last N hours, e.g. 24.",
    )

    class Meta:
        abstract = True
