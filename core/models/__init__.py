from .accounts import Account, ApiToken
from .credentials import ApiSecret
from .events import Event

__all__ = ["Account", "ApiSecret", "ApiToken", "Event"]
