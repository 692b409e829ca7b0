"""Every page sends a Content-Security-Policy, and the admin's and /v2/docs' pages carry nothing inline it would refuse.

In a real browser, with no violation reported: tests/e2e/test_admin_browser_e2e.py.
"""

import re

import pytest
from rest_framework.test import APIClient

from outbound.models import User

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.I)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_nothing_inline(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    assert not INLINE_STYLE.search(html), html[max(0, INLINE_STYLE.search(html).start() - 200):][:400]


@pytest.fixture
def operator(client):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


def test_the_policy_allows_this_origin_only_and_no_framing(client):
    directives = policy(client.get("/admin/login/"))
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in str(directives) and "'unsafe-eval'" not in str(directives)


def test_the_api_docs_have_a_policy_and_nothing_inline(client):
    response = client.get("/v2/docs")
    assert response.status_code == 200 and policy(response)["default-src"] == ["'self'"]
    assert_nothing_inline(response.content.decode())
    script = client.get("/v2/docs?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_api_answers_carry_the_policy_too(api):
    assert "default-src 'self'" in api.get("/v2/sessions")["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/schedules/schedule/dashboard/",
        "/admin/outbound/send/",
        "/admin/django_celery_beat/periodictask/add/",
    ],
)
def test_admin_pages_have_nothing_inline(operator, path):
    response = operator.get(path)
    assert response.status_code == 200
    assert_nothing_inline(response.content.decode())
