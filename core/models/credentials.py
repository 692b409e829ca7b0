from django.conf import settings
from django.db import models

from core import scopes
from core.ids import new_id

from .accounts import Account, ApiToken


class ApiSecret(models.Model):
    """An API secret: its id and key sign short-lived HS256 JWTs (seeds/heymarket-get-schedule.txt).

    The server needs the key itself to check signatures (the signing key is
    "<id>||<key>"), so it is kept encrypted (core.secretbox), never in
    clear, and shown to the customer once, when it is made.
    """

    id = models.UUIDField(
        "id", primary_key=True, default=new_id, editable=False,
        help_text="The secret's id, the JWT's issuer (iss), e.g. 01936b2e-7c4a-7d3e-9a1b-2c3d4e5f6a7b.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="api_secrets",
        verbose_name="account",
        help_text="The customer whose resources its JWTs reach, e.g. Acme Retail.",
    )
    name = models.CharField("name", max_length=100, help_text="What it is for, e.g. CRM integration.")
    scopes = models.JSONField(
        "scopes", default=scopes.all_scopes, help_text='What it may do, e.g. ["read", "sends:write"].'
    )
    key_encrypted = models.TextField(
        "key (encrypted)", editable=False,
        help_text="The key, encrypted with API_SECRETS_ENCRYPTION_KEYS (core/secretbox.py), e.g. gAAAAABm….",
    )
    key_prefix = models.CharField(
        "key prefix", max_length=16, editable=False, help_text="First characters of the key, to recognise it, e.g. whk_3kT9."
    )
    created_by = models.ForeignKey(
        # The user model is outbound's (AUTH_USER_MODEL): named, not imported, as Django's own apps do.
        settings.AUTH_USER_MODEL,
        # Deleting the user deletes what acts for them; deactivating stops it (credentials.py).
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="created by",
        help_text="Requests signed with this secret are attributed to this user; deactivating the user stops them.",
    )
    # Which credential made it through the API (empty when made in the admin):
    # revoking that credential revokes this one and what this one made in turn.
    minted_by_token = models.ForeignKey(
        ApiToken,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="minted_secrets",
        verbose_name="made with token",
        help_text="The API token whose request made it; revoking that token revokes this secret.",
    )
    minted_by_secret = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="minted_secrets",
        verbose_name="made with secret",
        help_text="The API secret whose JWT made it; revoking that secret revokes this one.",
    )
    created_at = models.DateTimeField("created at", auto_now_add=True, help_text="When it was made, e.g. 2026-12-04 09:30 UTC.")
    last_used_at = models.DateTimeField(
        "last used at", null=True, blank=True, editable=False,
        help_text="The last request signed with it (updated at most once a minute), e.g. 2026-12-04 09:31 UTC; empty: never used.",
    )
    revoked_at = models.DateTimeField(
        "revoked at", null=True, blank=True, editable=False,
        help_text="Its JWTs are refused from then on, e.g. 2026-12-04 10:00 UTC; empty: live.",
    )

    class Meta:
        # Made by the outbound app before core existed; the table keeps its name.
        db_table = "outbound_apisecret"
        verbose_name = "API secret"
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} ({self.id})"
