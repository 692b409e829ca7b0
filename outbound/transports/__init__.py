"""Clients for the WhatsApp gateway (WAHA-compatible HTTP API)."""

from .base import SentMessage, SessionInfo, TransportError
from .waha import WahaClient, get_client

__all__ = ["SentMessage", "SessionInfo", "TransportError", "WahaClient", "get_client"]
