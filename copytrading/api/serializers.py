"""Serializers of the copy trading API: shapes only. The terms are validated by the services
(CopyTerms.parse and the account's 100% cap), whose messages come back by field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from copytrading.domain.drift import PARTS
from copytrading.domain.terms import MAX_SLIPPAGE_BPS, CopyMode
from copytrading.models import CopySubscription, CopyTrade, CopyTradeKind, SubscriptionStatus
from execution.api.filters import BIGINT_MAX
from execution.api.serializers import StrictFieldsMixin
from execution.models import AccountMode

COPY_MODES = [mode.value for mode in CopyMode]  # one choice set: the schema's CopyModeEnum

TERMS = (
    "mode", "allocation_percent", "capital_cap", "copy_ratio", "fixed_amount",
    "max_trade_value", "max_position_value", "stop_loss_percent", "take_profit_percent",
    "copy_stop_loss_percent", "close_on_copy_stop_loss", "daily_loss_limit_percent",
    "slippage_bps", "copy_open_positions",
)  # fmt: skip


def _number(help_text: str, *, nullable: bool = True) -> serializers.DecimalField:
    # Wide enough for any stored amount: the ranges are the terms' to check, by field.
    return serializers.DecimalField(
        max_digits=38, decimal_places=18, required=False, allow_null=nullable,
        help_text=help_text,
    )  # fmt: skip


class SubscriptionSerializer(serializers.ModelSerializer[CopySubscription]):
    status = serializers.ChoiceField(choices=SubscriptionStatus.values, read_only=True)
    mode = serializers.ChoiceField(choices=COPY_MODES, read_only=True)
    account_mode = serializers.ChoiceField(choices=AccountMode.values, read_only=True)

    class Meta:
        model = CopySubscription
        fields = [
            "id", "account", "strategy", "account_mode", *TERMS, "status", "stop_reason",
            "start_capital", "peak_equity", "created_at", "updated_at", "paused_at",
            "resumed_at", "stopped_at",
        ]  # fmt: skip
        read_only_fields = fields


class TermsSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """The copy settings; missing ones keep their defaults (create) or values (change)."""

    mode = serializers.ChoiceField(choices=COPY_MODES, required=False)
    allocation_percent = _number("Of the account's equity, (0, 100]; default 35.", nullable=False)
    capital_cap = _number("Most capital to copy with; null for no cap.")
    copy_ratio = _number("The leader's quantity times this, fixed_ratio mode.", nullable=False)
    fixed_amount = _number("Quote currency per opening trade, fixed_amount mode.")
    max_trade_value = _number("Most value of one copied trade.")
    max_position_value = _number("Most value of a copied position.")
    stop_loss_percent = _number("Per copied position, (0, 100].")
    take_profit_percent = _number("Per copied position.")
    copy_stop_loss_percent = _number(
        "Stop copying when the subscription's equity falls this much from its peak; default 40.",
        nullable=False,
    )
    close_on_copy_stop_loss = serializers.BooleanField(required=False)
    daily_loss_limit_percent = _number("(0, 100].")
    slippage_bps = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_SLIPPAGE_BPS,
        help_text="Follower orders are limit IOC at the leader's price plus or minus this.",
    )  # fmt: skip
    copy_open_positions = serializers.BooleanField(required=False)

    def terms(self) -> dict[str, Any]:
        return {key: value for key, value in self.validated_data.items() if key in TERMS}


class SubscriptionCreateSerializer(TermsSerializer):
    account = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, help_text="One of your accounts."
    )
    strategy = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, help_text="A public strategy (not your own)."
    )
    account_mode = serializers.ChoiceField(
        choices=AccountMode.values, default=AccountMode.PAPER,
        help_text="The account must trade in this mode: copy on paper before live.",
    )  # fmt: skip


class StopSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    close = serializers.BooleanField(
        default=False, help_text="Close what the subscription copied (true) or keep it."
    )


class CopyTradeSerializer(serializers.ModelSerializer[CopyTrade]):
    kind = serializers.ChoiceField(choices=CopyTradeKind.values, read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    leader_filled_at = serializers.DateTimeField(
        source="leader_fill.filled_at", read_only=True, allow_null=True
    )

    class Meta:
        model = CopyTrade
        fields = [
            "id", "subscription", "kind", "symbol", "side", "leader_price", "leader_filled_at",
            "follower_order", "intended_quantity", "quantity", "actual_quantity",
            "skipped_reason", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class _Query(StrictFieldsMixin, serializers.Serializer[Any]):
    pass


class DriftQuerySerializer(_Query):
    # "from" is a Python keyword: declared through the class namespace.
    locals()["from"] = serializers.DateTimeField(
        required=False, help_text="Start, inclusive; default: when the subscription began."
    )
    to = serializers.DateTimeField(required=False, help_text="End, exclusive; default: now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "from" in attrs and "to" in attrs and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["must be after from"]})
        return attrs


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=60, decimal_places=18, **kwargs)


class LatencySerializer(serializers.Serializer[Any]):
    mean_seconds = serializers.FloatField(allow_null=True)
    max_seconds = serializers.FloatField(allow_null=True)


class CopyDriftSerializer(serializers.Serializer[Any]):
    subscription = serializers.IntegerField()
    locals()["from"] = serializers.DateTimeField()
    to = serializers.DateTimeField()
    capital = _money(help_text="The subscription's start capital.")
    leader_pnl = _money(help_text="The leader's trades scaled to the follower's intended size.")
    follower_pnl = _money()
    difference = _money(help_text="follower_pnl - leader_pnl")
    leader_return = _money(allow_null=True)
    follower_return = _money(allow_null=True)
    parts = serializers.DictField(
        child=_money(),
        help_text="The difference by cause: " + ", ".join(PARTS) + ". They sum to it.",
    )
    residual = _money(help_text="difference - sum(parts)")
    copies = serializers.IntegerField()
    skipped = serializers.IntegerField()
    latency = LatencySerializer(
        help_text="Leader fill to follower fill; its price effect is "
        "inside slippage (no mark is stored at the follower's fill)."
    )
    end_prices = serializers.DictField(child=_money())


class DailyPnlSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    start_equity = _money()
    end_equity = _money()
    pnl = _money()


class PnlSeriesSerializer(serializers.Serializer[Any]):
    days = DailyPnlSerializer(many=True)


class SubscriptionFiguresSerializer(serializers.Serializer[Any]):
    subscription = serializers.IntegerField()
    strategy = serializers.IntegerField()
    status = serializers.ChoiceField(choices=SubscriptionStatus.values)
    equity = _money()
    pnl = _money()
    locals()["return"] = _money(help_text="pnl / start capital")
    trades = serializers.IntegerField()


class OrphanSerializer(serializers.Serializer[Any]):
    subscription = serializers.IntegerField()
    account = serializers.IntegerField()
    strategy = serializers.IntegerField()
    symbol = serializers.CharField()
    held = serializers.CharField()
    leader_position = serializers.CharField()
    expected = serializers.CharField()
    quantity = serializers.CharField()
    reason = serializers.CharField()


class SummarySerializer(serializers.Serializer[Any]):
    pnl = _money()
    trades = serializers.IntegerField(help_text="Copies that filled.")
    strategies_followed = serializers.IntegerField()
    capital = _money()
    locals()["return"] = _money(allow_null=True, help_text="pnl / capital")
    subscriptions = SubscriptionFiguresSerializer(many=True)
    orphans = OrphanSerializer(many=True)


class CopyWindowSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField()
    roi = _money(allow_null=True)
    pnl = _money()
    max_drawdown = serializers.FloatField(allow_null=True)
    win_rate = serializers.FloatField()
    sharpe = serializers.FloatField(allow_null=True)
    trades = serializers.IntegerField()


class LeaderSerializer(serializers.Serializer[Any]):
    strategy = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    interval = serializers.CharField()
    status = serializers.CharField()
    capital_copying = _money()
    follower_count = serializers.IntegerField()
    windows = CopyWindowSerializer(many=True, help_text="7, 30 and 90 days.")
