"""What may reach the gateway, checked once more right before it does.

The API checks a message and its media URLs when it accepts them
(outbound.limits, core.addresses); a delivery is sent minutes or days later,
when a name may resolve elsewhere and content may have been written around
the API. The delivery worker asks these before its first part goes out.
"""

from core.addresses import URL_UNRESOLVABLE, UrlRefused, url_check
from outbound.limits import content_limit_errors
from outbound.models import Delivery
from outbound.services.events import delivery_content
from outbound.transports import TransportError


def content_over_limits(delivery: Delivery) -> str | None:
    """Why this delivery's message is over the gateway's limits, or None.

    The API checks the final message when it accepts it; this is the last
    check before the gateway, for content stored by an older version or
    written around the API (the admin, a shell). Retrying cannot shrink it, so
    the caller fails the delivery at once.
    """
    text, media = delivery_content(delivery.send, delivery)
    errors = content_limit_errors(text_length=len(text), media_count=len(media))
    return " ".join(e.message for e in errors) or None


def media_urls_check(delivery: Delivery) -> None:
    """Raise TransportError unless every media URL this delivery still has to send may go to the gateway.

    Checked at request time too, but what a name resolves to can change
    before the send (hours later for a schedule), and the gateway fetches
    the URL from inside our network. All parts are checked before the first
    is sent, so a refused image never leaves half a message behind. A name
    that no longer resolves may be a resolver's bad minute: retried like a
    gateway error. An address that is not public fails the delivery at once.
    """
    _, media = delivery_content(delivery.send, delivery)
    for index in range(delivery.parts_sent, len(media)):
        url = media[index].get("url")
        if url is None:
            continue  # an upload (file_id): stored by us, nothing to resolve
        try:
            url_check(url)
        except UrlRefused as refusal:
            raise TransportError(
                refusal.code,
                f"Media {index + 1} not sent: {refusal.message}",
                permanent=refusal.code != URL_UNRESOLVABLE,
                maybe_delivered=False,
            )
