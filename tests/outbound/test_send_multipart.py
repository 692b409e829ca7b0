"""POST /v2/outbound/sends as multipart/form-data with uploaded images."""

import json
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile

from outbound.models import MediaFile, Send

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def PNG(name="a.png"):
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def _form(session, groups, **extra):
    return {
        "session_id": str(session.id),
        "group_ids": [str(g.id) for g in groups],
        "idempotency_key": f"key-{uuid.uuid4()}",
        **extra,
    }


def test_it_accepts_uploaded_images_with_a_caption(api, session, make_groups):
    groups = make_groups(2)
    jpeg = SimpleUploadedFile("b.jpg", JPEG_BYTES, content_type="application/octet-stream")
    response = api.post(
        "/v2/outbound/sends", _form(session, groups, text="Caption", files=[PNG(), jpeg]), format="multipart"
    )
    assert response.status_code == 202, response.json()
    send = Send.objects.get(pk=response.json()["send"]["send_id"])
    files = [MediaFile.objects.get(pk=m["file_id"]) for m in send.media]
    # The type comes from the bytes, not from what the client claimed.
    assert [f.mimetype for f in files] == ["image/png", "image/jpeg"]
    assert files[0].file.read() == PNG_BYTES
    assert send.text == "Caption"
    assert {d.parts_total for d in send.deliveries.all()} == {2}


def test_it_takes_group_ids_as_a_json_array_and_schedule_as_json(api, session, make_groups):
    groups = make_groups(2)
    form = _form(session, [], text="Hi")
    form["group_ids"] = json.dumps([str(g.id) for g in groups])
    response = api.post("/v2/outbound/sends", form, format="multipart")
    assert response.status_code == 202, response.json()
    assert len(response.json()["send"]["results"]) == 2


def test_it_refuses_a_file_that_is_not_an_image(api, session, make_groups):
    pdf = SimpleUploadedFile("a.png", b"%PDF-1.7 not an image", content_type="image/png")
    response = api.post("/v2/outbound/sends", _form(session, make_groups(1), files=[pdf]), format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"]["fields"]["files.0"][0]["code"] == "unsupported_file_type"
    assert not MediaFile.objects.exists() and not Send.objects.exists()


def test_it_refuses_a_file_over_the_size_limit(api, session, make_groups, settings):
    settings.OUTBOUND_MAX_UPLOAD_BYTES = 32
    response = api.post("/v2/outbound/sends", _form(session, make_groups(1), files=[PNG()]), format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["files.0"][0]["code"] == "file_too_large"
    assert not Send.objects.exists()


def test_it_counts_files_and_media_together_against_the_limit(api, session, make_groups, public_dns):
    media = json.dumps([{"url": f"https://cdn.example.com/{i}.jpg"} for i in range(9)])
    form = _form(session, make_groups(1), media=media, files=[PNG("1.png"), PNG("2.png")])
    response = api.post("/v2/outbound/sends", form, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["media"][0]["code"] == "too_many_media"
    assert not Send.objects.exists()


def test_it_refuses_invalid_json_in_a_form_field(api, session, make_groups):
    response = api.post("/v2/outbound/sends", _form(session, make_groups(1), text="x", media="[{"), format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["media"][0]["code"] == "invalid_json"


def test_it_treats_the_same_upload_again_as_a_duplicate(api, session, make_groups):
    groups = make_groups(1)
    form = _form(session, groups, files=[PNG()])
    first = api.post("/v2/outbound/sends", form, format="multipart").json()
    form["files"] = [PNG()]
    second = api.post("/v2/outbound/sends", form, format="multipart").json()
    assert second["status"] == "duplicate_accepted"
    assert second["send"]["send_id"] == first["send"]["send_id"]
    assert MediaFile.objects.count() == 1


def test_it_refuses_the_same_key_with_a_different_upload(api, session, make_groups):
    groups = make_groups(1)
    form = _form(session, groups, files=[PNG()])
    api.post("/v2/outbound/sends", form, format="multipart")
    form["files"] = [SimpleUploadedFile("a.png", PNG_BYTES + b"!", content_type="image/png")]
    response = api.post("/v2/outbound/sends", form, format="multipart")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
