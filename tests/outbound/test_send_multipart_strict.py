"""The multipart form of POST /v2/outbound/sends is as strict as the JSON body: nothing malformed is read as absent."""

import uuid

import pytest

from outbound.models import MediaFile, Send

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _multipart(parts) -> tuple[bytes, str]:
    """A raw multipart body: (name, value, filename or None for a plain field)."""
    boundary = "test-boundary"
    body = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def post(api, session, make_groups):
    group = make_groups(1)[0]

    def post(*parts):
        required = [
            ("session_id", str(session.id).encode(), None),
            ("group_ids", str(group.id).encode(), None),
            ("idempotency_key", uuid.uuid4().hex.encode(), None),
        ]
        body, content_type = _multipart(required + list(parts))
        return api.generic("POST", "/v2/outbound/sends", body, content_type=content_type)

    return post


def _refused(response, field, code):
    assert response.status_code == 400, response.content[:400]
    fields = response.json()["error"]["details"]["fields"]
    assert code in [e["code"] for e in fields[field]], fields
    assert not Send.objects.exists() and not MediaFile.objects.exists()


def test_the_fuzzers_case_is_refused(post):
    """text "", files [""] (an empty part), skip_within_hours 0.0, schedule null (the CI fuzz run's ST201 case).

    Refused for what it is: an empty part is no image, hence no content.
    """
    response = post(("text", b"", None), ("files", b"", "files"), ("skip_within_hours", b"0.0", None), ("schedule", b"null", None))
    _refused(response, "files.0", "empty_file")


def test_an_empty_upload_is_no_content(post):
    _refused(post(("text", b"Caption", None), ("files", b"", "a.png")), "files.0", "empty_file")


def test_a_files_part_that_is_not_an_upload_is_refused(post):
    _refused(post(("text", b"Hello", None), ("files", b"", None)), "files", "not_a_file")


@pytest.mark.parametrize("field", ["media", "variants", "schedule", "skip_within_hours"])
def test_an_empty_json_field_is_invalid_not_absent(post, field):
    _refused(post(("text", b"Hello", None), (field, b"", None)), field, "invalid_json")


def test_a_field_given_twice_is_refused(post):
    _refused(post(("text", b"Hello", None), ("text", b"Bye", None)), "text", "duplicate_field")


def test_an_upload_under_a_text_fields_name_is_refused(post):
    _refused(post(("text", PNG_BYTES, "text.png")), "text", "invalid_type")


def test_a_well_formed_form_is_still_accepted(post):
    response = post(("text", b"", None), ("files", PNG_BYTES, "a.png"), ("skip_within_hours", b"0.0", None), ("schedule", b"null", None))
    assert response.status_code == 202, response.json()
