from django.conf import settings
from django.db import models

from core import scopes
from core.ids import new_id
from core.zones import zone_name_validate


class Account(models.Model):
    """A customer (tenant). Every resource the API serves belongs to one."""

    id = models.UUIDField(
        "id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="Made by the service (time-ordered), e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.",
    )
    name = models.CharField(
        "name", max_length=200, help_text="Customer name, e.g. Acme Retail."
    )
    created_at = models.DateTimeField("created at", auto_now_add=True, help_text="When it was made, e.g. 2026-12-04 09:30 UTC.")
    webhook_alert = models.CharField(
        "webhook alert",
        max_length=500,
        blank=True,
        help_text="Set when one of its webhook endpoints was turned off for failing; clear it once the customer knows.",
    )
    # Account-wide quiet hours: a session's own quiet hours override them (outbound/services/sending_windows.py).
    time_zone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        default="",
        validators=[zone_name_validate],
        help_text="IANA zone of the account's quiet hours, e.g. Africa/Cairo. Empty: UTC.",
    )
    quiet_hours_start = models.TimeField(
        "quiet hours start",
        null=True,
        blank=True,
        help_text="Local time from which none of its sessions sends, e.g. 22:00. Empty: no account quiet hours.",
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
        help_text="ISO weekdays (1 = Monday) on which a window starts, e.g. [1, 2, 3, 4, 5]. Empty: every day.",
    )

    class Meta:
        # Made by the outbound app before core existed; the table keeps its name.
        db_table = "outbound_account"
        verbose_name = "account"
        ordering = ["name"]

    def __str__(self):
        return self.name


class ApiToken(models.Model):
    """A bearer credential for the API. Only its SHA-256 is stored."""

    id = models.UUIDField(
        "id", primary_key=True, default=new_id, editable=False,
        help_text="Made by the service, e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="account",
        help_text="The customer whose resources the token reaches, e.g. Acme Retail.",
    )
    user = models.ForeignKey(
        # The user model is outbound's (AUTH_USER_MODEL): named, not imported, as Django's own apps do.
        settings.AUTH_USER_MODEL,
        # Deleting the user deletes their tokens; deactivating stops them (tokens.py).
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
        verbose_name="user",
        help_text="The user requests made with this token are attributed to; deactivating the user stops the token.",
    )
    name = models.CharField(
        "name", max_length=100, blank=True, help_text="What the token is for, e.g. CRM integration."
    )
    prefix = models.CharField(
        "prefix",
        max_length=16,
        editable=False,
        help_text="First characters of the token, to recognise it without storing it, e.g. wc_3kT9.",
    )
    # Tokens are 256-bit random strings, so a fast hash is enough: there is
    # nothing to brute-force, and lookups stay a single indexed equality.
    token_hash = models.CharField(
        "token hash", max_length=64, unique=True, editable=False,
        help_text="SHA-256 of the token in hex (the token itself is never stored), e.g. 9f86d081884c7d65….",
    )
    scopes = models.JSONField(
        "scopes", default=scopes.all_scopes, help_text='What it may do, e.g. ["read", "sends:write"].'
    )
    created_at = models.DateTimeField("created at", auto_now_add=True, help_text="When it was made, e.g. 2026-12-04 09:30 UTC.")
    last_used_at = models.DateTimeField(
        "last used at", null=True, blank=True, editable=False,
        help_text="The last request made with it (updated at most once a minute), e.g. 2026-12-04 09:31 UTC; empty: never used.",
    )
    revoked_at = models.DateTimeField(
        "revoked at", null=True, blank=True,
        help_text="Set by the Revoke action: the token, and every API secret made with it, stop working at once.",
    )

    class Meta:
        db_table = "outbound_apitoken"
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"
