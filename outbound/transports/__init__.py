"""Clients for the WhatsApp gateway (WAHA-compatible HTTP API)."""

from .base import SentMessage, TransportError
from .waha import WahaClient, get_client

__all__ = ["SentMessage", "TransportError", "WahaClient", "get_client"]
