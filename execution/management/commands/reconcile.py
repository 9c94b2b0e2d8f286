"""Reconcile accounts with their venues (execution.services.reconciliation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.domain.errors import DomainError
from execution.services.reconciliation import account_reconcile, live_accounts_reconcile


class Command(BaseCommand):
    help = (
        "Settle sent orders by client order id and compare positions and balances with the "
        "venue, correcting every difference (each one an audit event). Without --account: "
        "every live account with exchange credentials."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, help="one account's id (paper or live)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = "command:reconcile"
        if options["account"] is None:
            results = live_accounts_reconcile(actor=actor)
            if not results:
                self.stdout.write("no live account with exchange credentials was reconciled")
        else:
            try:
                results = [account_reconcile(account_id=options["account"], actor=actor)]
            except DomainError as error:
                raise CommandError(str(error)) from None
        for result in results:
            self.stdout.write(result.summary())
            for line in result.corrections:
                self.stdout.write(f"  corrected: {line}")
            for client_order_id in result.unknown_at_venue:
                self.stdout.write(f"  unknown at the venue: {client_order_id}")
