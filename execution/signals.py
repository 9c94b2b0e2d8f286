"""Notifications execution sends to apps above it, which it never imports (DESIGN.md).

Sent on commit of the transaction that wrote the row; receivers must be idempotent.
"""

from django.dispatch import Signal

# kwargs: fill_id (int), order_id (UUID), account_id (int)
fill_committed = Signal()
