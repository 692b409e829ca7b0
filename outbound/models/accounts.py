from django.contrib.auth.models import AbstractUser
from django.db import models

from core import scopes
from core.ids import new_id
from core.zones import zone_name_validate


class Account(models.Model):
    """A customer (tenant). Every resource the API serves belongs to one."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(
        "name", max_length=200, help_text="Customer name, e.g. Acme Retail."
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)
    webhook_alert = models.CharField(
        "webhook alert",
        max_length=500,
        blank=True,
        help_text="Set when one of its webhook endpoints was turned off for failing; clear it once the customer knows.",
    )

    class Meta:
        verbose_name = "account"
        ordering = ["name"]

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A person: a customer's user (with an account) or an operator (staff)."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name="account",
        help_text="The customer this user acts for; empty for operators.",
    )
    time_zone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        help_text="IANA zone the admin shows times in, e.g. Africa/Cairo. Empty: server default.",
        validators=[zone_name_validate],
    )


class ApiToken(models.Model):
    """A bearer credential for the API. Only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="api_tokens", verbose_name="account"
    )
    user = models.ForeignKey(
        User,
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
    token_hash = models.CharField("token hash", max_length=64, unique=True, editable=False)
    scopes = models.JSONField(
        "scopes", default=scopes.all_scopes, help_text='What it may do, e.g. ["read", "sends:write"].'
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)
    last_used_at = models.DateTimeField("last used at", null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(
        "revoked at", null=True, blank=True,
        help_text="Set by the Revoke action: the token, and every API secret made with it, stop working at once.",
    )

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"
