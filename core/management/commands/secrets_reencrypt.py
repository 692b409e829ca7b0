from django.core.management.base import BaseCommand

from core.services.credentials import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret (API secret keys, webhook signing secrets) again with the first key of "
        "API_SECRETS_ENCRYPTION_KEYS. Run it after putting a new key first; then the old keys can be removed "
        "(docs/operations.md, \"Encrypted secrets\")."
    )

    def handle(self, *args, **options):
        for label, count in secrets_reencrypt().items():
            self.stdout.write(f"{label}: {count} re-encrypted")
