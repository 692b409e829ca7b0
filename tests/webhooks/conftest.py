import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone


class Receiver:
    """A customer's webhook receiver on loopback: records every request, answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to answer with, in turn; 200 once exhausted
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "json": json.loads(body or b"null")})
                status = receiver.answers.pop(0) if receiver.answers else 200
                reply = b'{"ok": true}' if status < 300 else b"nope " * 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [r["json"]["event"] for r in self.requests]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def endpoint(account, receiver):
    from webhooks.services.endpoints import endpoint_create

    return endpoint_create(account=account, url=receiver.url, events=["*"])


def events_backlog(account, count: int, *, age=timedelta(minutes=1)) -> None:
    """`count` unrelayed events of `account`, older than anything recorded next, in one INSERT."""
    from core.models import Event

    ms = int((timezone.now() - age).timestamp() * 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Event._meta.db_table} (id, account_id, type, data, created_at, relayed, has_webhook_messages)
            SELECT (lpad(to_hex(%s::bigint), 12, '0') || '7' || lpad(to_hex(g), 7, '0') || substr(md5(random()::text), 1, 12))::uuid,
                   %s, 'message.notification.sent', '{{"n": 0}}'::jsonb, now(), false, false
            FROM generate_series(1, %s) AS g
            """,
            [ms, account.id, count],
        )
