"""Store a live account's exchange API credentials, encrypted (execution.services.live).

The key, secret and passphrase never go on the command line, where ``ps`` and shell history
would show them: they come from the environment (EXCHANGE_API_KEY, EXCHANGE_API_SECRET,
EXCHANGE_API_PASSPHRASE), else from standard input, one per line (asked for without echo at a
terminal).
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.domain.errors import DomainError
from execution.services.live import exchange_credentials_set

ENV_KEY, ENV_SECRET, ENV_PASSPHRASE = (
    "EXCHANGE_API_KEY",
    "EXCHANGE_API_SECRET",
    "EXCHANGE_API_PASSPHRASE",
)
PROMPTS = ("API key: ", "secret: ", "passphrase (empty if none): ")


class Command(BaseCommand):
    help = (
        "Set a live account's exchange API credentials. The key, secret and passphrase are read "
        f"from {ENV_KEY}, {ENV_SECRET} and {ENV_PASSPHRASE}, else from standard input (one per "
        "line), never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, required=True, help="the live account's id")
        parser.add_argument("--exchange", default="okx", help="a ccxt exchange id (default okx)")
        parser.add_argument(
            "--no-sandbox",
            action="store_true",
            help="trade with real money; without it the exchange's demo trading is used",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        api_key, secret, passphrase = _read_secrets()
        try:
            credential = exchange_credentials_set(
                account_id=options["account"],
                exchange_id=options["exchange"],
                api_key=api_key,
                secret=secret,
                password=passphrase,
                sandbox=not options["no_sandbox"],
                actor="command:exchange_credentials_set",
            )
        except DomainError as error:
            raise CommandError(str(error)) from None
        where = "sandbox" if credential.sandbox else "LIVE TRADING"
        self.stdout.write(
            f"{credential.exchange_id} API key ...{credential.key_hint or '(hidden)'} set for "
            f"account {credential.account_id} ({where})"
        )


def _read_secrets() -> tuple[str, str, str]:
    if os.environ.get(ENV_KEY):
        return (
            os.environ.get(ENV_KEY, ""),
            os.environ.get(ENV_SECRET, ""),
            os.environ.get(ENV_PASSPHRASE, ""),
        )
    if sys.stdin.isatty():
        key, secret, passphrase = (getpass.getpass(prompt) for prompt in PROMPTS)
        return key, secret, passphrase
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in PROMPTS]
    return lines[0], lines[1], lines[2]
