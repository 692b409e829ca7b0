"""An account's own settings that change how its sessions send: its quiet hours (and their zone).

The one way both the API (PATCH /v2/account) and the admin (Accounts) change
them, so either re-examines at once what waits under the old window.
"""

from django.db import transaction

from core.models import Account
from core.quiet_hours import QUIET_HOURS_FIELDS
from outbound.models import Session
from outbound.services.sessions import sessions_deferred_release


def account_quiet_hours_set(*, account: Account, **changes) -> Account:
    """Set the account's time_zone / quiet_hours_start / quiet_hours_end / quiet_hours_days.

    1. Saves the given fields (only those; other fields of the row are not rewritten).
    2. Queues at once the deferred deliveries of each of its sessions without
       quiet hours of their own (those follow the account's): each is looked at
       again under the new window, deferred again or sent at the session's pace.
    Sessions with their own quiet hours are not touched: the account's never applied to them.
    """
    unknown = set(changes) - set(QUIET_HOURS_FIELDS)
    if unknown:
        raise TypeError(f"not an account quiet-hours field: {sorted(unknown)}")
    with transaction.atomic():
        for name, value in changes.items():
            setattr(account, name, value)
        if changes:
            account.save(update_fields=list(changes))
            account_deferred_release(account=account)
    return account


def account_deferred_release(*, account: Account) -> int:
    """Queue now the deferred deliveries of the account's sessions that follow its quiet hours; how many."""
    # A cap-deferred delivery of such a session is looked at again too (harmless: deferred again to the same time).
    return sessions_deferred_release(sessions=Session.objects.filter(account=account, quiet_hours_start__isnull=True))
