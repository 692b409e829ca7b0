"""One test per rule of POST /v2/outbound/sends: a stable code, a clear message, nothing written."""

import uuid

import pytest

from core.models import Event
from outbound.models import Delivery, IdempotencyKey, MediaFile, Send, Session


@pytest.fixture
def post(api, session, make_groups):
    groups = make_groups(2)

    def post(*, drop=(), **overrides):
        body = {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"key-{uuid.uuid4()}",
            "text": "Hello",
        }
        body.update(overrides)
        for key in drop:
            body.pop(key)
        return api.post("/v2/outbound/sends", body, format="json")

    return post


def _assert_refused(response, status, code, field=None):
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    if field is None:
        assert error["code"] == code
    else:
        assert error["code"] == "validation_error"
        assert code in [e["code"] for e in error["details"]["fields"][field]], error
        assert field in error["message"]
    assert error["message"]
    assert not Send.objects.exists()
    assert not Delivery.objects.exists()
    assert not Event.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_it_requires_a_session_id(post):
    _assert_refused(post(drop=["session_id"]), 400, "required", "session_id")


def test_it_requires_a_uuid_session_id(post):
    _assert_refused(post(session_id="sales"), 400, "invalid", "session_id")


def test_it_requires_at_least_one_group(post):
    _assert_refused(post(group_ids=[]), 400, "min_length", "group_ids")


def test_it_refuses_more_than_100_groups(post):
    _assert_refused(post(group_ids=[str(uuid.uuid4()) for _ in range(101)]), 400, "max_length", "group_ids")


def test_it_refuses_repeated_groups(post, make_groups):
    group = make_groups(1)[0]
    _assert_refused(post(group_ids=[str(group.id), str(group.id)]), 400, "duplicate_group_ids", "group_ids")


def test_it_refuses_a_non_uuid_group(post):
    _assert_refused(post(group_ids=["120363@g.us"]), 400, "invalid", "group_ids.0")


def test_it_requires_an_idempotency_key(post):
    _assert_refused(post(drop=["idempotency_key"]), 400, "required", "idempotency_key")


def test_it_refuses_an_empty_idempotency_key(post):
    _assert_refused(post(idempotency_key=""), 400, "blank", "idempotency_key")


def test_it_refuses_an_idempotency_key_over_200_chars(post):
    _assert_refused(post(idempotency_key="k" * 201), 400, "max_length", "idempotency_key")


def test_it_accepts_an_idempotency_key_of_200_chars(post):
    assert post(idempotency_key="k" * 200).status_code == 202


def test_it_refuses_text_over_4096_chars(post):
    _assert_refused(post(text="x" * 4097), 400, "max_length", "text")


def test_it_accepts_text_of_4096_chars(post):
    assert post(text="x" * 4096).status_code == 202


def test_it_refuses_more_than_10_media(post, public_dns):
    media = [{"url": f"https://cdn.example.com/{i}.jpg"} for i in range(11)]
    _assert_refused(post(media=media), 400, "max_length", "media")


def test_it_refuses_a_media_url_that_is_not_http(post):
    _assert_refused(post(media=[{"url": "ftp://cdn.example.com/a.jpg"}]), 400, "invalid_url", "media.0.url")


def test_it_refuses_a_media_mimetype_that_is_not_an_image(post, public_dns):
    _assert_refused(post(media=[{"url": "https://cdn.example.com/a.pdf", "mimetype": "application/pdf"}]), 400, "invalid", "media.0.mimetype")


def test_it_requires_text_media_or_files(post):
    _assert_refused(post(text=""), 400, "content_required", "text")


def test_it_refuses_an_unknown_session(post):
    _assert_refused(post(session_id=str(uuid.uuid4())), 422, "session_not_found")


def test_it_refuses_another_accounts_session_like_an_unknown_one(post, other_account):
    response = post(session_id=str(other_account.sessions.get().id))
    _assert_refused(response, 422, "session_not_found")


def test_it_refuses_a_receiving_session(post, session):
    Session.objects.filter(pk=session.pk).update(role=Session.Role.RECEIVING)
    _assert_refused(post(), 422, "session_not_sending")


@pytest.mark.parametrize("status", ["STOPPED", "STARTING", "SCAN_QR_CODE", "FAILED"])
def test_it_refuses_a_session_that_is_not_working(post, session, status):
    Session.objects.filter(pk=session.pk).update(status=status)
    response = post()
    _assert_refused(response, 422, "session_not_working")
    assert response.json()["error"]["details"]["status"] == status


def test_it_refuses_an_unknown_group(post, make_groups):
    missing = str(uuid.uuid4())
    response = post(group_ids=[str(make_groups(1)[0].id), missing])
    _assert_refused(response, 422, "group_not_found")
    assert response.json()["error"]["details"]["group_ids"] == [missing]


def test_it_refuses_another_accounts_group_like_an_unknown_one(post, other_account):
    theirs = str(other_account.groups.get().id)
    response = post(group_ids=[theirs])
    _assert_refused(response, 422, "group_not_found")


def test_it_refuses_a_group_the_session_is_not_in(post, make_groups):
    outside = make_groups(1, in_session=None)[0]
    response = post(group_ids=[str(outside.id)])
    _assert_refused(response, 422, "group_not_in_session")
    assert response.json()["error"]["details"]["group_ids"] == [str(outside.id)]


def test_it_refuses_a_body_that_is_not_json(api):
    response = api.post("/v2/outbound/sends", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert not Send.objects.exists()


def test_it_refuses_an_unsupported_content_type(api):
    response = api.post("/v2/outbound/sends", "a=b", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_it_writes_no_media_file_when_refused(api, session, make_groups):
    from tests.outbound.test_send_multipart import PNG

    response = api.post(
        "/v2/outbound/sends",
        {
            "session_id": str(session.id),
            "group_ids": [str(uuid.uuid4())],
            "idempotency_key": "k",
            "files": [PNG("a.png")],
        },
        format="multipart",
    )
    _assert_refused(response, 422, "group_not_found")
    assert not MediaFile.objects.exists()


def test_it_refuses_an_idempotency_key_with_a_nul_character_before_looking_it_up(post):
    # PostgreSQL cannot even compare a text with NUL in it: the key is checked before the replay lookup.
    _assert_refused(post(idempotency_key="key\x00"), 400, "null_characters_not_allowed", "idempotency_key")
