"""Notifications execution sends to apps above it, which it never imports (DESIGN.md).

Sent on commit of the transaction that wrote the row; receivers must be idempotent.
"""

from django.dispatch import Signal

# kwargs: fill_id (int), order_id (UUID), account_id (int), parent_id (str | None)
fill_committed = Signal()

# kwargs: order_id (UUID), parent_id (str | None), status (str)
order_status_committed = Signal()
