import json

from django.core.management.base import BaseCommand
from django.db import transaction

from core.models import Account
from core.services.tokens import api_token_create
from outbound.models import Group, Session, User

DEMO_GROUPS = [
    ("120363000000000001@g.us", "Demo group 1"),
    ("120363000000000002@g.us", "Demo group 2"),
    ("120363000000000003@g.us", "Demo group 3"),
]


class Command(BaseCommand):
    help = (
        "Create (or reuse) a demo account with a WORKING sending session on the fake "
        "gateway and a few groups; print a new API token and the ids as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session-name", default="demo", help="Gateway session name (default: demo).")

    @transaction.atomic
    def handle(self, *args, session_name, **options):
        account, _ = Account.objects.get_or_create(name="Demo account")
        user, _ = User.objects.get_or_create(username="demo", defaults={"account": account})
        session, _ = Session.objects.get_or_create(
            name=session_name,
            defaults={
                "account": account,
                "label": "Demo sending session",
                "role": Session.Role.SENDING,
                "status": Session.Status.WORKING,
            },
        )
        groups = []
        for chat_id, name in DEMO_GROUPS:
            group, _ = Group.objects.get_or_create(account=account, chat_id=chat_id, defaults={"name": name})
            group.sessions.add(session)
            groups.append(group)
        # Tokens are stored hashed, so an old one cannot be shown again: each
        # run issues a fresh one (earlier ones keep working).
        _, raw = api_token_create(account=account, user=user, name="demo")
        self.stdout.write(
            json.dumps(
                {
                    "token": raw,
                    "account_id": str(account.id),
                    "session_id": str(session.id),
                    "group_ids": [str(g.id) for g in groups],
                },
                indent=2,
            )
        )
