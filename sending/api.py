"""POST /v2/outbound/sends: an immediate send or a schedule, one way in.

The request and response follow seeds/watchcollect-post-sends.txt field for
field. The view validates; sending.services decides now or later.
"""

import copy

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.api.parsers import BoundedJSONParser, json_loads_bounded
from core.api.strict import StrictSerializer, UniqueListField, unknown_fields_error
from outbound.limits import MAX_MEDIA, MAX_TEXT
from outbound.media import file_sha256, sniff_image_mimetype
from outbound.serializers import MediaInput, VariantInput, variants_validate
from outbound.services.idempotency import idempotent_replay, request_fingerprint
from schedules.api.inputs import ScheduleField, ScheduleRuleInput

from .services import send_or_schedule_create


class SendInput(StrictSerializer):
    session_id = serializers.UUIDField(help_text="WORKING sending session id.")
    group_ids = UniqueListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=100,
        duplicate_code="duplicate_group_ids",
        help_text="Internal group ids from /v2/groups present in the session (1-100, each once).",
    )
    idempotency_key = serializers.CharField(min_length=1, max_length=200, trim_whitespace=False)
    text = serializers.CharField(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Text body, or the image caption when media is present.",
    )
    media = serializers.ListField(child=MediaInput(), max_length=MAX_MEDIA, required=False)
    variants = serializers.ListField(
        child=VariantInput(),
        min_length=1,
        max_length=10,
        required=False,
        help_text="A/B variants instead of text/media: each group gets one, split by percent_audience.",
    )
    skip_within_hours = serializers.FloatField(
        min_value=0,
        max_value=8760,
        required=False,
        allow_null=True,
        help_text="Skip a group that got a message from this account within this many hours.",
    )
    schedule = ScheduleField(
        required=False,
        allow_null=True,
        help_text='Send later instead of now: e.g. {"first_run_at_ms": 1777809600000, "interval_ms": 3600000, '
        '"max_occurrences": 3}, or {"calendar": {...}}.',
    )

    def validate_variants(self, value):
        return variants_validate(value)

    def validate_schedule(self, value):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise serializers.ValidationError("schedule must be an object.", code="invalid")
        rule = ScheduleRuleInput(data=value)
        rule.is_valid(raise_exception=True)
        return dict(rule.validated_data)

    def validate(self, attrs):
        files = self.context.get("files", [])
        media = attrs.get("media", [])
        if len(media) + len(files) > MAX_MEDIA:
            raise serializers.ValidationError(
                {"media": [serializers.ErrorDetail(f"At most {MAX_MEDIA} images (media and files together).", code="too_many_media")]}
            )
        if attrs.get("variants") and (attrs.get("text") or media or files):
            raise serializers.ValidationError(
                {"variants": [serializers.ErrorDetail("Give either variants or text/media/files, not both.", code="variants_with_content")]}
            )
        if not attrs.get("text") and not media and not files and not attrs.get("variants"):
            raise serializers.ValidationError(
                {"text": [serializers.ErrorDetail("Give text, media, files or variants (at least one).", code="content_required")]}
            )
        return attrs


# Multipart form fields and how each becomes its JSON value; `files` are the uploads.
_FORM_TEXT = ("session_id", "idempotency_key", "text")
_FORM_JSON = ("media", "schedule", "variants", "skip_within_hours")


class SendMultipartInput(SendInput):
    """The same send as multipart/form-data, with image uploads (documents the form; the view reads it)."""

    files = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        max_length=MAX_MEDIA,
        help_text="JPEG, PNG, GIF or WebP images, each up to OUTBOUND_MAX_UPLOAD_BYTES; media and files together at most 10.",
    )


def _multipart_to_data(request) -> dict:
    """Form fields to the JSON shape: group_ids repeated or a JSON array; the others text or JSON as listed.

    As strict as a JSON body: an unknown field, a field given twice, a JSON
    field sent empty, an upload under a text field's name or a `files` part
    that is not an upload is refused, never read as if it were absent.
    """
    form, uploads = request.POST, request.FILES
    _multipart_shape_check(form, uploads)
    data = {key: form[key] for key in _FORM_TEXT if key in form}
    group_ids = form.getlist("group_ids")
    if len(group_ids) == 1 and group_ids[0].lstrip().startswith("["):
        group_ids = _json_field(group_ids[0], "group_ids")
    if group_ids:
        data["group_ids"] = group_ids
    for key in _FORM_JSON:
        if key in form:
            data[key] = _json_field(form[key], key)
    return data


def _multipart_shape_check(form, uploads) -> None:
    unknown = (set(form) | set(uploads)) - {*_FORM_TEXT, *_FORM_JSON, "group_ids", "files"}
    if unknown:
        raise unknown_fields_error(unknown)
    errors = {}
    for key in _FORM_TEXT + _FORM_JSON:
        if key in uploads:
            errors[key] = [serializers.ErrorDetail("Must be a form field, not a file.", code="invalid_type")]
        elif len(form.getlist(key)) > 1:
            errors[key] = [serializers.ErrorDetail("Given more than once.", code="duplicate_field")]
    if "group_ids" in uploads:
        errors["group_ids"] = [serializers.ErrorDetail("Must be form fields, not files.", code="invalid_type")]
    if "files" in form:
        errors["files"] = [serializers.ErrorDetail("Each files part must be an uploaded image.", code="not_a_file")]
    if errors:
        raise serializers.ValidationError(errors)


def _json_field(raw: str, name: str):
    try:
        return json_loads_bounded(raw)
    except ValueError as exc:
        raise serializers.ValidationError({name: [serializers.ErrorDetail(f"Not valid JSON: {exc}", code="invalid_json")]})


def _checked_files(request) -> list[tuple[object, str]]:
    """Uploaded files with their sniffed image type; anything else is refused."""
    checked, errors = [], []
    for index, upload in enumerate(request.FILES.getlist("files")):
        head = upload.read(16)
        upload.seek(0)
        mimetype = sniff_image_mimetype(head)
        if upload.size == 0:
            errors.append((index, "empty_file", f"{upload.name} is empty: an empty part is no image."))
        elif upload.size > settings.OUTBOUND_MAX_UPLOAD_BYTES:
            errors.append((index, "file_too_large", f"{upload.name} is over {settings.OUTBOUND_MAX_UPLOAD_BYTES} bytes."))
        elif mimetype is None:
            errors.append((index, "unsupported_file_type", f"{upload.name} is not a JPEG, PNG, GIF or WebP image."))
        checked.append((upload, mimetype))
    if errors:
        raise serializers.ValidationError(
            {"files": {str(i): [serializers.ErrorDetail(msg, code=code)] for i, code, msg in errors}}
        )
    return checked


class SendResultOutput(serializers.Serializer):
    recipient_send_id = serializers.UUIDField()
    group_id = serializers.UUIDField()
    ok = serializers.BooleanField()
    status = serializers.CharField(help_text="queued")


class SendPartOutput(serializers.Serializer):
    status = serializers.ChoiceField(["accepted"])
    send_id = serializers.UUIDField()
    event_ids = serializers.ListField(child=serializers.UUIDField())
    results = SendResultOutput(many=True)
    request_id = serializers.CharField()


class SchedulePartOutput(serializers.Serializer):
    status = serializers.ChoiceField(["accepted"])
    schedule_id = serializers.UUIDField()
    workflow_id = serializers.CharField(help_text="outbound:text-send-schedule:<schedule_id>")
    next_run_at_ms = serializers.IntegerField(allow_null=True)
    interval_ms = serializers.IntegerField(allow_null=True)
    max_occurrences = serializers.IntegerField()


# Documents the 202 body; sending.services builds it (the docstring is the schema's description).
class SendAcceptedOutput(serializers.Serializer):
    """The 202 body: `send` for an immediate send, `schedule` for a scheduled one."""

    status = serializers.ChoiceField(["accepted", "duplicate_accepted"])
    request_id = serializers.CharField()
    send = SendPartOutput(required=False, help_text="Present for an immediate send.")
    schedule = SchedulePartOutput(required=False, help_text="Present for a scheduled send.")


class SendCreateView(APIView):
    parser_classes = [BoundedJSONParser, MultiPartParser]
    write_scope = scopes.SENDS_WRITE
    refusals = {
        "POST": {
            409: ["idempotency_key_in_flight (the same key is being processed; retry shortly)"],
            422: ["session_not_found", "session_not_sending", "session_not_working", "group_not_found",
                  "group_not_in_session", "idempotency_key_reused"],
        }
    }

    @extend_schema(
        operation_id="outbound_sends_create",
        summary="Create an immediate or scheduled outbound WhatsApp send",
        request={"application/json": SendInput, "multipart/form-data": SendMultipartInput},
        responses={202: SendAcceptedOutput},
        examples=[
            OpenApiExample(
                "Immediate send",
                request_only=True,
                value={
                    "session_id": "018f06e2-4f8d-7c01-8a0d-cc6fd78f7070",
                    "group_ids": ["018f06e2-4f8d-7c01-8a0d-cc6fd78f7300"],
                    "idempotency_key": "frontend-outbound-018f06e2",
                    "text": "Hello groups",
                },
            )
        ],
    )
    def post(self, request):
        """1. Replay a known idempotency key. 2. Validate shape and limits. 3. Resolve session and groups. 4. Create once.

        The key is looked up before anything that depends on the clock: a
        retry of a scheduled send whose first run has passed since must get
        the first answer, not `first_run_in_past`.
        """
        is_multipart = request.content_type.startswith("multipart/")
        files = _checked_files(request) if is_multipart else []
        data = _multipart_to_data(request) if is_multipart else request.data
        account = request.user.account
        # The request as sent: a retry sends the same body (a calendar rule resolves
        # against the clock, so the validated form would not match).
        fingerprint = request_fingerprint({"body": data, "files": [file_sha256(upload) for upload, _ in files]})
        key = _valid_idempotency_key(data)
        if key is not None:
            replay = idempotent_replay(account=account, key=key, fingerprint=fingerprint)
            if replay is not None:
                return _duplicate(replay, request)
        serializer = SendInput(data=data, context={"files": files})
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        body, duplicate = send_or_schedule_create(
            account=account,
            actor_user=request.user.user,
            request_id=request.request_id,
            idempotency_key=params["idempotency_key"],
            fingerprint=fingerprint,
            session_id=params["session_id"],
            group_ids=params["group_ids"],
            text=params.get("text", ""),
            media=[dict(item) for item in params.get("media", [])],
            uploads=files,
            variants=params.get("variants", []),
            skip_within_hours=params.get("skip_within_hours"),
            schedule=params.get("schedule"),
        )
        if duplicate:
            return _duplicate(body, request)
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _valid_idempotency_key(data) -> str | None:
    """The body's idempotency key if it is valid on its own (all a replay needs); else None.

    None lets the full validation that follows report what is wrong with it.
    """
    if not isinstance(data, dict) or not isinstance(data.get("idempotency_key"), str):
        return None
    try:
        return _IDEMPOTENCY_KEY.run_validation(data["idempotency_key"])
    except serializers.ValidationError:
        return None


# The key's field on its own (its checks need no serializer): SendInput() would
# copy every declared field to validate this one, on every request.
_IDEMPOTENCY_KEY = copy.deepcopy(SendInput._declared_fields["idempotency_key"])


def _duplicate(first_body: dict, request) -> Response:
    """The first request's answer again (same ids), marked as a duplicate, with this request's id."""
    return Response(
        {**first_body, "status": "duplicate_accepted", "request_id": request.request_id}, status=status.HTTP_202_ACCEPTED
    )
