"""What a credential (API token or API secret) may do.

Every GET needs `read`; each write endpoint names the scope it needs (the
view's `write_scope`). A credential without it gets 403 insufficient_scope.
"""

READ = "read"
SENDS_WRITE = "sends:write"
SCHEDULES_WRITE = "schedules:write"
# Account settings: session pacing, the account's quiet hours, webhook endpoints, API secrets.
SETTINGS_WRITE = "settings:write"

ALL = (READ, SENDS_WRITE, SCHEDULES_WRITE, SETTINGS_WRITE)

DESCRIPTIONS = {
    READ: "Read sessions, groups, sends, schedules, runs, webhooks and API secrets.",
    SENDS_WRITE: "Create sends, immediate or scheduled (POST /v2/outbound/sends).",
    SCHEDULES_WRITE: "Edit, pause, resume and cancel schedules; retry a run's failed deliveries.",
    SETTINGS_WRITE: "Change session pacing, the account's quiet hours, webhook endpoints and API secrets.",
}

CHOICES = [(scope, f"{scope}: {DESCRIPTIONS[scope]}") for scope in ALL]


def all_scopes() -> list[str]:
    """Default for a new credential and for tokens made before scopes existed."""
    return list(ALL)
