"""Reads scoped to an account: another account's rows are simply not found."""

import uuid

from django.db.models import Prefetch, QuerySet

from core.models import Account
from outbound.models import Delivery, Group, Send, Session


def send_get(*, account: Account, send_id: uuid.UUID) -> Send | None:
    return (
        Send.objects.filter(account=account, pk=send_id)
        .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("created_at", "id")))
        .first()
    )


def session_list(*, account: Account) -> QuerySet[Session]:
    return Session.objects.filter(account=account)


def group_list(*, account: Account, session_id: uuid.UUID | None = None) -> QuerySet[Group]:
    groups = Group.objects.filter(account=account).prefetch_related("sessions")
    if session_id is not None:
        groups = groups.filter(sessions__id=session_id)
    return groups
