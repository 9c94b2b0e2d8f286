"""Notifications execution sends to apps above it, which it never imports (DESIGN.md).

Sent on commit of the transaction that wrote the row; receivers must be idempotent.
"""

from django.dispatch import Signal

# kwargs: fill_id (int), order_id (UUID), account_id (int), parent_id (str | None)
fill_committed = Signal()

# kwargs: order_id (UUID), parent_id (str | None), status (str)
order_status_committed = Signal()

# kwargs: symbol (str), interval (str), bar_start (datetime, UTC): a candle was stored and has
# closed; the live strategy runner evaluates the strategies that trade it.
bar_closed = Signal()
