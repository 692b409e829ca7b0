from django.contrib.auth.models import AbstractUser
from django.db import models

from core.ids import new_id
from core.models import Account
from core.zones import zone_name_validate


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
