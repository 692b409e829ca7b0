"""Standard Webhooks signatures: the spec's test vector, our headers, rotation."""

from datetime import datetime, timedelta, timezone

from standardwebhooks.webhooks import Webhook

from webhooks.models import WebhookEndpoint
from webhooks.services.dispatch import signature_header

# From the Standard Webhooks specification's test vectors.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = datetime.fromtimestamp(1614265330, timezone.utc)
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_it_signs_the_spec_test_vector():
    endpoint = WebhookEndpoint(secret=SPEC_SECRET)
    assert signature_header(endpoint, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    now = datetime.now(timezone.utc).replace(microsecond=0)
    old, new = "whsec_" + "b2xkb2xkb2xkb2xkb2xkb2xkb2xk", SPEC_SECRET
    endpoint = WebhookEndpoint(secret=new, previous_secret=old, previous_secret_expires_at=now + timedelta(hours=1))
    header = signature_header(endpoint, "msg_1", now, "{}")
    assert len(header.split(" ")) == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": header}
    assert Webhook(new).verify("{}", headers) == {}
    assert Webhook(old).verify("{}", headers) == {}


def test_after_the_rotation_window_only_the_new_secret_signs():
    now = datetime.now(timezone.utc)
    endpoint = WebhookEndpoint(secret=SPEC_SECRET, previous_secret="whsec_b2xk", previous_secret_expires_at=now - timedelta(seconds=1))
    assert len(signature_header(endpoint, "msg_1", now, "{}").split(" ")) == 1
