"""A customer's webhook receiver for benchmarks: answers 200 at once and counts what it got.

    python -m bench.receiver --port N
    GET / -> {"received": n, "latencies_ms": [...]}  (event happened -> webhook received)

Each webhook body carries its event's `timestamp` (when the change
committed), so the receiver can tell how long the webhook took to arrive.
"""

import argparse
import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_latencies_ms: list[float] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        now = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        latency = None
        try:
            happened = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00"))
            latency = (now - happened.timestamp()) * 1000
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        with _lock:
            _latencies_ms.append(latency)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with _lock:
            payload = json.dumps({"received": len(_latencies_ms), "latencies_ms": [x for x in _latencies_ms if x is not None]})
        data = payload.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
