"""A WAHA-compatible fake WhatsApp gateway: a real HTTP server for tests,
benchmarks and the zero-setup local run, with a ledger of what it accepted."""

from .server import FakeGatewayServer, serve_forever, start_in_thread
from .state import MISSING, ConfigError, GatewayState

__all__ = ["MISSING", "ConfigError", "FakeGatewayServer", "GatewayState", "serve_forever", "start_in_thread"]
