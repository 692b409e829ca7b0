from .accounts import Account, ApiToken, User
from .credentials import ApiSecret
from .events import Event, ProviderEvent
from .idempotency import IdempotencyKey
from .sends import Delivery, MediaFile, Send
from .sessions import Group, Session

__all__ = [
    "Account",
    "ApiSecret",
    "ApiToken",
    "Delivery",
    "Event",
    "Group",
    "IdempotencyKey",
    "MediaFile",
    "ProviderEvent",
    "Send",
    "Session",
    "User",
]
