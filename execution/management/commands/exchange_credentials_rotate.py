"""Re-encrypt every stored exchange credential with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from execution.domain.errors import DomainError
from execution.services.live import exchange_credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored exchange credential with the first (newest) key of "
        "EXCHANGE_KEY_ENCRYPTION_KEYS. To retire a key: put a new one first, run this, then "
        "remove the old one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = exchange_credentials_rotate(actor="command:exchange_credentials_rotate")
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{count} credential(s) re-encrypted with the newest key")
