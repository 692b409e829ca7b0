"""session.unhealthy is an event type endpoints subscribe to (issue 22, item 6)."""

from core.models import Event
from outbound.services.session_health import sessions_health_check
from outbound.services.sessions import session_status_set
from webhooks.models import WebhookEndpoint


def test_an_endpoint_subscribes_to_session_unhealthy_and_the_event_awaits_relay(api, receiver, session, clock, settings):
    response = api.post("/v2/webhooks", {"url": receiver.url, "events": ["session.unhealthy"]}, format="json")
    assert response.status_code == 201, response.json()
    assert WebhookEndpoint.objects.get().events == ["session.unhealthy"]
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 60
    session_status_set(session=session, status="FAILED")
    clock.shift(61)
    assert sessions_health_check() == 1
    event = Event.objects.get(type="session.unhealthy")
    assert event.relayed is False  # subscribed: the relay turns it into a message
