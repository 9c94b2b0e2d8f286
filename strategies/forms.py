"""Forms of the strategies pages. They parse what a person typed; the rules (costs above zero,
bounds, the window) stay in ``strategies.services.backtest_start`` and its ``BacktestCosts``,
whose refusals come back onto the fields here (``costs.fee_rate`` onto ``fee_rate``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django import forms

from strategies.costs import BacktestCosts

COST_FIELDS = tuple(name for name in BacktestCosts.__dataclass_fields__)
_DEFAULTS = BacktestCosts()


class AccessibleForm(forms.Form):
    """Each field with errors points at them (``aria-describedby``) and says it is invalid,
    so a screen reader reads the message with the field."""

    def full_clean(self) -> None:
        super().full_clean()
        self.describe_errors()

    def describe_errors(self) -> None:
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            attrs = self.fields[name].widget.attrs
            described = [f"{bound.auto_id}_errors"]
            if self.fields[name].help_text:
                described.append(f"{bound.auto_id}_helptext")
            attrs["aria-describedby"] = " ".join(described)
            attrs["aria-invalid"] = "true"


def _cost(name: str, *, required: bool = True, **kwargs: Any) -> forms.DecimalField:
    meta = BacktestCosts.__dataclass_fields__[name].metadata
    default = getattr(_DEFAULTS, name)
    return forms.DecimalField(
        required=required,
        initial=default,
        help_text=str(meta["doc"]),
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        **kwargs,
    )


class BacktestForm(AccessibleForm):
    """Run a backtest of one strategy: where, when and at what costs."""

    symbol = forms.ChoiceField(label="Instrument")
    start = forms.DateTimeField(
        required=False,
        help_text="UTC; blank: the first stored candle",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        required=False,
        help_text="UTC; blank: after the last stored candle",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    fee_rate = _cost("fee_rate", label="Fee rate (fraction per fill)")
    slippage_bps = _cost("slippage_bps", label="Slippage (basis points)")
    latency_seconds = _cost("latency_seconds", label="Latency (seconds)")
    latency_bars = forms.IntegerField(
        label="Latency (whole bars)",
        initial=_DEFAULTS.latency_bars,
        help_text=str(BacktestCosts.__dataclass_fields__["latency_bars"].metadata["doc"]),
    )
    initial_cash = _cost("initial_cash", label="Initial cash")
    order_size = _cost("order_size", required=False, label="Order size")
    stop_loss = _cost("stop_loss", required=False, label="Stop loss (fraction)")
    take_profit = _cost("take_profit", required=False, label="Take profit (fraction)")

    def __init__(self, *args: Any, symbols: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["symbol"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(symbol, symbol) for symbol in symbols]

    def costs(self) -> dict[str, Any]:
        """The cleaned costs, as ``BacktestCosts.from_dict`` reads them (blank: its default)."""
        costs: dict[str, Any] = {}
        for name in COST_FIELDS:
            if name not in self.fields:
                continue
            value = self.cleaned_data.get(name)
            if value is None:
                continue
            costs[name] = str(value) if isinstance(value, Decimal) else value
        return costs

    def add_refusals(self, errors: Mapping[str, Sequence[str]]) -> None:
        """The service's refusals onto the fields they name; the rest above the form."""
        for key, messages in errors.items():
            name = key.removeprefix("costs.")
            field = name if name in self.fields else None
            for message in messages:
                self.add_error(field, message if field else f"{key}: {message}")
        self.describe_errors()
