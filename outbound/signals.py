from django.dispatch import Signal

# Sent inside the transaction that completes a send (all its deliveries
# finished), with `send`. How upper layers (schedules) learn how a send ended
# without outbound importing them.
send_finished = Signal()

# Sent inside the transaction that recorded events (the outbox), with
# `account_id`. The webhook relay listens, to pick them up soon after commit.
events_recorded = Signal()

# Sent inside the transaction that judged a session unhealthy (outbound.services.session_health),
# with `session`, `code` ("not_working" or "ack_errors") and `reason`. Schedules pause theirs.
session_unhealthy = Signal()
