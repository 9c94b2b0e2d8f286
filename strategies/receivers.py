"""What strategies does when execution announces something (execution.signals)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from execution.signals import bar_closed
from strategies.runner import strategies_bar_closed


@receiver(bar_closed, dispatch_uid="strategies.runner.bar_closed")
def on_bar_closed(
    sender: Any, *, symbol: str, interval: str, bar_start: datetime, **kwargs: Any
) -> None:
    strategies_bar_closed(symbol=symbol, interval=interval, bar_start=bar_start)
