"""manage.py api_token_create <username> [--name NAME] [--days N]: prints a new API key once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import TokenSource
from accounts.services import TokenRefused, api_token_create


class Command(BaseCommand):
    help = "Make an API token for a user and print its key (only a hash is kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py api_token_create")
        parser.add_argument(
            "--days", type=int, default=None, help="expires after this many days (default never)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"there is no user {options['username']!r}")
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        try:
            issued = api_token_create(
                user_id=user.pk,
                name=options["name"],
                expires_in=timedelta(days=days) if days else None,
                source=TokenSource.COMMAND,
            )
        except TokenRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(issued.key)
