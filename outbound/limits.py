"""What a message that reaches the gateway may hold, checked on the message as it will be sent.

A limit checked on the request as written is no limit once placeholders are
filled: `{{a}}` is five characters and its value may be 2,048, so a text within
MAX_TEXT could become hundreds of times longer. Every limit here is measured on
the final content, per variant (each group gets exactly one variant's
content), and the length is computed without building the text, since the
client chooses the multiplier.

The request-time checks (outbound.serializers, used by outbound.api.sends and schedules.api.inputs) and the
last check before the gateway call (outbound.services.deliveries) both use
`content_limit_errors`, so they cannot drift apart.
"""

from dataclasses import dataclass

from outbound.alternatives import text_longest_length

# WhatsApp's limit on a text message; the text is also the first image's caption.
MAX_TEXT = 4096
# Images per message (one gateway message each).
MAX_MEDIA = 10


@dataclass(frozen=True)
class LimitError:
    field: str  # relative to the content: "text" or "media"
    code: str
    message: str


def text_rendered_length(text: str, values: dict[str, str]) -> int:
    """Length of the longest text a group may get: placeholders filled, each `{a|b}` at its longest alternative.

    Computed without building the text; every placeholder must have a value.
    For a text without alternatives or escapes it is len(text_render(text, values)).
    """
    return text_longest_length(text or "", values)


def content_limit_errors(*, text_length: int, media_count: int) -> list[LimitError]:
    """What is over the limits in one message as sent: its final text length and how many images it carries."""
    errors = []
    if text_length > MAX_TEXT:
        errors.append(
            LimitError(
                "text", "text_too_long",
                f"The text is {text_length} characters with its placeholders filled (its longest alternatives); at most {MAX_TEXT}.",
            )
        )
    if media_count > MAX_MEDIA:
        errors.append(LimitError("media", "too_many_media", f"{media_count} images; at most {MAX_MEDIA} per message."))
    return errors
