"""Putting a claimed delivery's parts on the gateway, each part once however often it is attempted."""

import base64
import logging
from datetime import timedelta

from django.conf import settings

from outbound import clock
from outbound.models import Delivery, MediaFile, Send
from outbound.services.events import delivery_content
from outbound.transports import get_client

from .claiming import LeaseLost, fenced

logger = logging.getLogger(__package__)


def _part_payload(send: Send, delivery: Delivery, part: int) -> tuple[str, dict | None, str | None]:
    """(kind, file, text) for gateway message `part`: the text rides as the first image's caption."""
    text, media = delivery_content(send, delivery)
    if not media:
        return "text", None, text
    item = media[part]
    caption = text if part == 0 and text else None
    if "file_id" in item:
        media_file = MediaFile.objects.get(pk=item["file_id"])
        with media_file.file.open("rb") as fh:
            data = base64.b64encode(fh.read()).decode()
        return "image", {"mimetype": media_file.mimetype, "data": data, "filename": media_file.filename}, caption
    file = {"mimetype": item.get("mimetype") or "image/jpeg", "url": item["url"]}
    if item.get("filename"):
        file["filename"] = item["filename"]
    return "image", file, caption


def part_send(delivery: Delivery, part: int) -> str:
    """Put part `part` on the gateway unless it is already there; return its provider id."""
    client = get_client()
    send = delivery.send
    session_name = send.session.name
    message_id = delivery.gateway_message_id(part)
    if delivery.attempts > 1 or delivery.unconfirmed:
        # Any earlier attempt may have reached the gateway (a timeout, a 5xx
        # after accepting, a worker killed mid-call): ask before sending again.
        found = client.get_message(session=session_name, chat_id=delivery.chat_id, message_id=message_id)
        if delivery.unconfirmed and not fenced(delivery).update(unconfirmed=False):
            raise LeaseLost()
        delivery.unconfirmed = False  # the gateway answered: we know again
        if found is not None:
            logger.info("delivery %s part %s: already on the gateway, not resending", delivery.pk, part)
            return _provider_id(found) or message_id
    kind, file, text = _part_payload(send, delivery, part)
    if kind == "text":
        sent = client.send_text(session=session_name, chat_id=delivery.chat_id, text=text, message_id=message_id)
    else:
        sent = client.send_image(
            session=session_name, chat_id=delivery.chat_id, file=file, caption=text, message_id=message_id
        )
    return sent.message_id


def _provider_id(message: dict) -> str | None:
    raw = message.get("id")
    if isinstance(raw, dict):
        return raw.get("_serialized") or raw.get("id")
    return raw


def part_record(delivery: Delivery, part: int, provider_id: str) -> None:
    """Note a part the gateway took (all but the last: that one is recorded with the final status)."""
    ids = list(delivery.provider_message_ids) + [provider_id]
    lease = clock.now() + timedelta(seconds=settings.OUTBOUND_SEND_LEASE_SECONDS)
    if not fenced(delivery).update(parts_sent=part + 1, provider_message_ids=ids, lease_expires_at=lease):
        raise LeaseLost()
    delivery.parts_sent = part + 1
    delivery.provider_message_ids = ids
