import logging

from django.utils import timezone

from outbound.models import Session
from outbound.transports import TransportError, get_client

logger = logging.getLogger(__name__)


def session_status_set(*, session: Session, status: str) -> bool:
    """Record a session's status; True if it changed. Conditional, so racing writers agree."""
    now = timezone.now()
    changed = (
        Session.objects.filter(pk=session.pk)
        .exclude(status=status)
        .update(status=status, status_changed_at=now, updated_at=now)
    )
    if changed:
        session.status, session.status_changed_at = status, now
    return bool(changed)


def session_status_refresh(*, session: Session) -> str:
    """Ask the gateway for the session's status and record it. Unknown on the gateway -> STOPPED."""
    try:
        status = get_client().get_session_status(session=session.name)
    except TransportError as error:
        if error.code != "session_not_found":
            raise
        status = Session.Status.STOPPED
    if status not in Session.Status.values:
        logger.warning("session %s: gateway reported unknown status %r; treating as FAILED", session.name, status)
        status = Session.Status.FAILED
    session_status_set(session=session, status=status)
    return status
