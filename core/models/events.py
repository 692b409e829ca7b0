from django.db import models

from core.ids import new_id
from core.jsoncolumns import ColumnJSONEncoder

from .accounts import Account


class Event(models.Model):
    """A lifecycle event, written in the same transaction as the change it describes.

    This is the outbox customer webhooks are delivered from: an event exists
    if and only if its change committed.
    """

    id = models.UUIDField(
        "id", primary_key=True, default=new_id, editable=False,
        help_text="Time-ordered; webhooks carry it as the message id, e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.",
    )
    # No index of its own: event_account_idx (account, -id) serves every
    # lookup by account, and each event written would update both.
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        verbose_name="account",
        help_text="The customer the event is told to, e.g. Acme Retail.",
    )
    type = models.CharField("type", max_length=64, help_text="e.g. message.notification.sent")
    data = models.JSONField(
        "data", encoder=ColumnJSONEncoder,
        help_text='The record the event is about, as the webhook carries it, e.g. {"id": "…", "status": "sent", …}.',
    )
    created_at = models.DateTimeField("created at", auto_now_add=True, help_text="When it happened, e.g. 2026-12-04 09:30 UTC.")
    relayed = models.BooleanField(
        "relayed",
        default=False,
        help_text="Handed to the webhook relay (which queues it for each subscribed endpoint), "
        "or written so when the account had no webhook endpoint.",
    )
    has_webhook_messages = models.BooleanField(
        "has webhook messages",
        default=False,
        help_text="Webhook messages were made of it and some are kept: it is purged after them, "
        "not after RETENTION_EVENTS_DAYS.",
    )

    class Meta:
        # Made by the outbound app before core existed; the table keeps its name.
        db_table = "outbound_event"
        verbose_name = "event"
        indexes = [
            # Event lists per account, newest first (ids are time-ordered).
            models.Index(fields=["account", "-id"], name="event_account_idx"),
            # The webhook relay: one account's events not yet relayed, oldest
            # first; and the backstop's walk over the accounts that have some.
            models.Index(fields=["account", "id"], name="event_unrelayed_account_idx", condition=models.Q(relayed=False)),
            # events_purge: relayed events no webhook message needs, oldest first.
            models.Index(
                fields=["created_at"],
                name="event_purgeable_idx",
                condition=models.Q(relayed=True, has_webhook_messages=False),
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"
