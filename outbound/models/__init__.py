from .accounts import User
from .events import ProviderEvent
from .idempotency import IdempotencyKey
from .sends import Delivery, MediaFile, Send
from .sessions import Group, Session

__all__ = [
    "Delivery",
    "Group",
    "IdempotencyKey",
    "MediaFile",
    "ProviderEvent",
    "Send",
    "Session",
    "User",
]
