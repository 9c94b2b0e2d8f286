"""Serializers: they check the shape of a request; the trading rules stay in the services."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import Field

from execution import selectors
from execution.domain import algos
from execution.domain.orders import (
    CLIENT_ORDER_ID,
    CLIENT_ORDER_ID_MAX,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution.domain.values import DECIMAL_PLACES, MAX_DIGITS, Liquidity, Side, quantize
from execution.models import Account, AccountMode, Fill, Order, ParentOrder, Position

BIGINT_MAX = 2**63 - 1
ORDER_SIDES = [side.value for side in Side]
POSITION_SIDES = ["long", "short", "flat"]


# What an amount may look like: ASCII digits, one point, an exponent. Python's Decimal also
# reads "1_000" and Arabic-Indic or fullwidth digits: a typo or a look-alike is not a price.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class AmountField(serializers.DecimalField):
    """A price, quantity or money amount as a decimal string ("20000.5"), at the project's
    precision. Input is kept exactly as sent (no rounding); output drops trailing zeros."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        kwargs.setdefault("normalize_output", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, str) and not _PLAIN_DECIMAL.fullmatch(data.strip()):
            self.fail("invalid")
        value: Decimal = super().to_internal_value(data)
        return value

    def quantize(self, value: Decimal) -> Decimal:
        # validate_precision has checked the digits: padding 0.5 to 0.500000000000000000 would
        # only make the trading rules' messages harder to read.
        return value

    def to_representation(self, value: Any) -> Any:
        # A computed ratio may carry more places than the column: round it, as a column would.
        if value is None:
            return None
        return super().to_representation(quantize(Decimal(value)))


class ModelSerializer(serializers.ModelSerializer[Any]):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: AmountField,
    }


class StrictFieldsMixin:
    """Refuse fields the endpoint does not take: a misspelt ``reduceOnly`` must not be
    silently ignored on a trading API."""

    initial_data: Any
    fields: Any

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, Mapping):
            # The browsable API's HTML forms send their CSRF token as a field.
            unknown = sorted(set(self.initial_data) - set(self.fields) - {"csrfmiddlewaretoken"})
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        return attrs


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]


# --- orders -------------------------------------------------------------------------------------


class OrderSerializer(ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    remaining_quantity = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "venue_order_id",
            "account",
            "symbol",
            "strategy_id",
            "side",
            "order_type",
            "time_in_force",
            "quantity",
            "price",
            "stop_price",
            "reduce_only",
            "status",
            "filled_quantity",
            "remaining_quantity",
            "filled_notional",
            "average_fill_price",
            "error",
            "created_at",
            "updated_at",
            "sent_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AmountField(read_only=True))
    def get_remaining_quantity(self, order: Order) -> str:
        return str(AmountField().to_representation(order.quantity - order.filled_quantity))


@extend_schema_field(OpenApiTypes.INT)
class AccountChoiceField(serializers.PrimaryKeyRelatedField[Account]):
    """One of the caller's accounts, by id; anyone else's reads as not found."""

    default_error_messages = {
        "does_not_exist": "account {pk_value} is not one of your accounts.",
        "incorrect_type": "Incorrect type. Expected an account id (an integer), got {data_type}.",
    }

    def get_queryset(self) -> Any:
        request = self.context["request"]
        return selectors.accounts_for_owner(request.user.pk)

    def to_internal_value(self, data: Any) -> Account:
        # Only whole numbers: the database would read 1.5 as account 1.
        if isinstance(data, str) and re.fullmatch(r"\s*\d{1,19}\s*", data, re.ASCII):
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < data <= BIGINT_MAX:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class PlacementSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """What every placement names: the account (defaulted when the caller has only one), the
    instrument and the side."""

    account = AccountChoiceField(
        required=False,
        help_text="Id of one of your accounts; may be left out when you have only one.",
    )
    symbol = serializers.CharField(max_length=40, help_text="Instrument, e.g. BTC-USDT.")
    side = serializers.ChoiceField(choices=_values(Side))

    def validate_symbol(self, value: str) -> str:
        symbol = value.strip().upper()
        if selectors.instrument_active(symbol) is None:
            raise serializers.ValidationError(f"unknown instrument {value!r}")
        return symbol

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "account" not in attrs:
            accounts = list(selectors.accounts_for_owner(self.context["request"].user.pk)[:2])
            if len(accounts) != 1:
                raise serializers.ValidationError(
                    {
                        "account": [
                            "You have no trading account."
                            if not accounts
                            else "You have several accounts: say which one."
                        ]
                    }
                )
            attrs["account"] = accounts[0]
        return attrs


class OrderPlaceSerializer(PlacementSerializer):
    order_type = serializers.ChoiceField(choices=_values(OrderType))
    quantity = AmountField(help_text="In the base currency; a multiple of the lot size.")
    price = AmountField(
        required=False, allow_null=True, help_text="Limit price: limit and stop_limit only."
    )
    stop_price = AmountField(
        required=False,
        allow_null=True,
        help_text="Trigger price: stop_market and stop_limit only.",
    )
    time_in_force = serializers.ChoiceField(
        choices=_values(TimeInForce), default=TimeInForce.GTC.value
    )
    reduce_only = serializers.BooleanField(default=False)
    client_order_id = serializers.CharField(
        required=False,
        max_length=CLIENT_ORDER_ID_MAX,
        help_text="Your id for the order (1 to 32 letters or digits). Sending the same id "
        "with the same terms again returns the existing order instead of placing another.",
    )

    def validate_client_order_id(self, value: str) -> str:
        if not CLIENT_ORDER_ID.fullmatch(value):
            raise serializers.ValidationError(
                f"client order id must be 1 to {CLIENT_ORDER_ID_MAX} letters or digits"
            )
        return value


class OrderAmendSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    quantity = AmountField(required=False, help_text="New total quantity (filled part included).")
    price = AmountField(required=False, help_text="New limit price.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError("An amendment needs a new quantity or a new price.")
        return attrs


class SecondsField(serializers.FloatField):
    """A duration in seconds."""

    def to_representation(self, value: Any) -> Any:
        assert isinstance(value, timedelta)
        return value.total_seconds()


# --- parent orders (execution algorithms) -------------------------------------------------------

ALGORITHMS = sorted(
    kind.kind
    for kind in (
        algos.Market,
        algos.LimitWithTimeout,
        algos.Twap,
        algos.Vwap,
        algos.Iceberg,
        algos.Pov,
    )
)
PARAMS_HELP = (
    "The algorithm's parameters: durations in seconds (a whole number or a decimal string), "
    "amounts and fractions as decimal strings, flags as booleans. market: none. limit: "
    "timeout (required), fallback_to_market, price. twap: duration (required), num_slices, "
    "use_limit_orders, price_offset_pct, finish_with_market. vwap: duration and profile (a "
    "list of weights) required, slices_per_bucket and twap's others. iceberg: visible_pct, "
    "max_refresh_time, use_limit_orders, min_visible_size. pov: participation_rate "
    "(required), max_participation_rate, min_child_size, use_limit_orders. All take "
    "max_child_slippage_bps (default 50). A bad or unknown parameter is named under "
    "`params.<name>` in the 400 answer."
)


class ParentOrderPlaceSerializer(PlacementSerializer):
    quantity = AmountField(help_text="In the base currency; a multiple of the lot size.")
    algorithm = serializers.ChoiceField(choices=ALGORITHMS)
    params = serializers.DictField(required=False, default=dict, help_text=PARAMS_HELP)
    strategy_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="The strategy this execution is for, if any (copied onto every child).",
    )


class ParentOrderSerializer(ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    side = serializers.ChoiceField(choices=_values(Side), read_only=True)
    # A string, not an enum: a second choice set under the name "status" would rename the
    # orders' StatusEnum component (settings' ENUM_NAME_OVERRIDES could name both).
    status = serializers.CharField(
        read_only=True, help_text="One of: " + ", ".join(_values(algos.ParentStatus)) + "."
    )
    params = serializers.DictField(read_only=True, help_text="As the algorithm reads them back.")
    remaining_quantity = serializers.SerializerMethodField()

    class Meta:
        model = ParentOrder
        fields = [
            "id",
            "account",
            "symbol",
            "strategy_id",
            "side",
            "quantity",
            "algorithm",
            "params",
            "status",
            "reason",
            "filled_quantity",
            "remaining_quantity",
            "average_fill_price",
            "next_due_at",
            "signal_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "signal_at": {
                "help_text": "When the signal that asked for it arrived; null for a parent "
                "placed directly (its signal-to-fill times count from created_at)."
            }
        }

    @extend_schema_field(AmountField(read_only=True))
    def get_remaining_quantity(self, parent: ParentOrder) -> str:
        return str(AmountField().to_representation(parent.quantity - parent.filled_quantity))


class MarketBaselineSerializer(serializers.Serializer[Any]):
    filled_quantity = AmountField(help_text="What the displayed book at arrival held.")
    average_price = AmountField(allow_null=True)
    complete = serializers.BooleanField(help_text="The book held the whole quantity.")
    fees = AmountField(help_text="At the taker fee rate.")
    cost = AmountField(allow_null=True, help_text="Money, fees included; null unless complete.")
    cost_bps = AmountField(allow_null=True, help_text="Of quantity x arrival mid.")
    slippage_bps = AmountField(
        allow_null=True, help_text="Its average price against the arrival mid, without fees."
    )


class ExecutionQualitySerializer(serializers.Serializer[Any]):
    arrival_mid = AmountField(
        help_text="The mid of the book when the parent was placed (its first child's mid when "
        "it was sent, for a parent stored without that book)."
    )
    final_mid = AmountField(
        allow_null=True, help_text="The latest mid seen during the parent's life."
    )
    filled_quantity = AmountField()
    fill_rate = AmountField(help_text="Filled over the parent's quantity.")
    average_price = AmountField(allow_null=True)
    executed_notional = AmountField(help_text="Quantity x price filled.")
    slippage_bps = AmountField(
        allow_null=True, help_text="Average price against the arrival mid; positive is worse."
    )
    fees = AmountField(help_text="In the quote currency.")
    fees_bps = AmountField(allow_null=True, help_text="Of the notional executed.")
    execution_cost = AmountField(help_text="Money lost to prices worse than the arrival mid.")
    opportunity_cost = AmountField(
        allow_null=True, help_text="The unfilled part marked at the final mid."
    )
    shortfall = AmountField(
        allow_null=True, help_text="Implementation shortfall: execution cost, fees, opportunity."
    )
    shortfall_bps = AmountField(allow_null=True, help_text="Of quantity x arrival mid.")
    signal_to_first_fill = SecondsField(
        allow_null=True,
        help_text="From signal_at (created_at for a parent placed directly); null before a fill.",
    )
    signal_to_complete = SecondsField(
        allow_null=True, help_text="To the fill that completed it; null until then."
    )
    baseline = MarketBaselineSerializer(
        allow_null=True,
        help_text="A market order for the whole quantity walking the book stored at placement, "
        "charged the taker fee; null for a parent stored without that book.",
    )
    improvement_bps = AmountField(
        allow_null=True, help_text="Baseline cost less shortfall, in bps; positive is better."
    )


class ParentOrderDetailSerializer(ParentOrderSerializer):
    children = serializers.SerializerMethodField()
    execution_quality = serializers.SerializerMethodField()

    class Meta(ParentOrderSerializer.Meta):
        fields = [*ParentOrderSerializer.Meta.fields, "children", "execution_quality"]
        read_only_fields = fields

    @extend_schema_field(OrderSerializer(many=True, help_text="In the order they were sent."))
    def get_children(self, parent: ParentOrder) -> Any:
        return OrderSerializer(selectors.parent_order_children(parent), many=True).data

    @extend_schema_field(
        ExecutionQualitySerializer(
            allow_null=True,
            help_text="Null when nothing gives the arrival mid: no book at placement and no "
            "child sent yet.",
        )
    )
    def get_execution_quality(self, parent: ParentOrder) -> Any:
        quality = selectors.parent_order_quality(parent)
        return None if quality is None else ExecutionQualitySerializer(quality).data


# --- positions ----------------------------------------------------------------------------------


class PositionSerializer(ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    side = serializers.SerializerMethodField(help_text="long, short or flat")

    class Meta:
        model = Position
        fields = [
            "id",
            "account",
            "symbol",
            "side",
            "quantity",
            "average_entry_price",
            "cost_basis",
            "mark_price",
            "marked_at",
            "unrealized_pnl",
            "realized_pnl",
            "fees_paid",
            "leverage",
            "margin",
            "stop_loss_price",
            "take_profit_price",
            "opened_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=POSITION_SIDES))
    def get_side(self, position: Position) -> str:
        if position.quantity > 0:
            return "long"
        return "short" if position.quantity < 0 else "flat"


class AccountQuerySerializer(serializers.Serializer[Any]):
    account = serializers.IntegerField(
        required=False, min_value=1, max_value=BIGINT_MAX, help_text="One of your account ids."
    )


class PositionsSyncSerializer(StrictFieldsMixin, AccountQuerySerializer):
    pass


class SyncErrorSerializer(serializers.Serializer[Any]):
    order_id = serializers.UUIDField()
    client_order_id = serializers.CharField()
    message = serializers.CharField()


class PositionsSyncResultSerializer(serializers.Serializer[Any]):
    checked = serializers.IntegerField(help_text="Open sent orders asked about at their venue.")
    changed = OrderSerializer(many=True, help_text="Orders the venue's answer changed.")
    unsettled = SyncErrorSerializer(many=True, help_text="Orders the venue could not settle.")
    positions = PositionSerializer(many=True)


# --- trades -------------------------------------------------------------------------------------


class TradeSerializer(ModelSerializer):
    order = serializers.UUIDField(source="order_id", read_only=True)
    client_order_id = serializers.CharField(source="order.client_order_id", read_only=True)
    account = serializers.IntegerField(source="order.account_id", read_only=True)
    symbol = serializers.CharField(source="order.instrument.symbol", read_only=True)
    side = serializers.ChoiceField(source="order.side", choices=_values(Side), read_only=True)
    liquidity = serializers.ChoiceField(choices=_values(Liquidity), read_only=True)
    notional = serializers.SerializerMethodField()

    class Meta:
        model = Fill
        fields = [
            "id",
            "order",
            "client_order_id",
            "account",
            "symbol",
            "side",
            "quantity",
            "price",
            "notional",
            "fee",
            "fee_currency",
            "liquidity",
            "venue_trade_id",
            "filled_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AmountField(read_only=True))
    def get_notional(self, fill: Fill) -> str:
        return str(AmountField().to_representation(fill.quantity * fill.price))


# --- accounts -----------------------------------------------------------------------------------


class ValuationSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    deposited = AmountField()
    realized_pnl = AmountField(help_text="Net of fees.")
    unrealized_pnl = AmountField()
    margin_in_use = AmountField()
    reserved_by_orders = AmountField()
    cash = AmountField(help_text="Deposited plus realized P&L.")
    equity = AmountField(help_text="Cash plus unrealized P&L.")
    available = AmountField(help_text="Cash less margin in use and what open orders reserve.")


class AccountSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="account.pk")
    name = serializers.CharField(source="account.name")
    mode = serializers.ChoiceField(source="account.mode", choices=AccountMode.values)
    base_currency = serializers.CharField(source="account.base_currency")
    created_at = serializers.DateTimeField(source="account.created_at")
    min_order_quantity = AmountField(source="account.min_order_quantity", allow_null=True)
    max_order_quantity = AmountField(source="account.max_order_quantity", allow_null=True)
    max_order_value = AmountField(source="account.max_order_value", allow_null=True)
    max_price_deviation = AmountField(source="account.max_price_deviation")
    daily_loss_limit = AmountField(source="account.daily_loss_limit")
    max_position_value = AmountField(source="account.max_position_value")
    valuation = ValuationSerializer()


# --- statistics and performance -----------------------------------------------------------------


class InstrumentActivitySerializer(serializers.Serializer[Any]):
    symbol = serializers.CharField()
    quote_currency = serializers.CharField()
    fill_count = serializers.IntegerField()
    volume = AmountField(help_text="Base quantity traded, buys and sells alike.")
    notional = AmountField(help_text="Quantity times price traded, in the quote currency.")
    fees = AmountField()
    realized_pnl = AmountField(help_text="Net of fees.")
    unrealized_pnl = AmountField()


class CurrencyTotalsSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    notional = AmountField()
    fees = AmountField()
    realized_pnl = AmountField()
    unrealized_pnl = AmountField()


class StatisticsSerializer(serializers.Serializer[Any]):
    order_count = serializers.IntegerField()
    orders_by_status = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Every status: " + ", ".join(_values(OrderStatus)) + ".",
    )
    fill_count = serializers.IntegerField()
    instruments = InstrumentActivitySerializer(many=True)
    totals = CurrencyTotalsSerializer(many=True, help_text="One entry per quote currency.")


class PerformanceQuerySerializer(AccountQuerySerializer):
    start_date = serializers.DateField(required=False, help_text="First UTC day, inclusive.")
    end_date = serializers.DateField(required=False, help_text="Last UTC day, inclusive.")
    instrument = serializers.CharField(
        required=False, max_length=40, help_text="Only round trips in this symbol."
    )

    def validate_instrument(self, value: str) -> str:
        symbol = value.strip().upper()
        if not selectors.instrument_exists(symbol):
            raise serializers.ValidationError(f"unknown instrument {value!r}")
        return symbol

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"end_date": ["end_date is before start_date."]})
        return attrs


class EquityPointSerializer(serializers.Serializer[Any]):
    at = serializers.SerializerMethodField()
    equity = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_at(self, point: tuple[Any, Decimal]) -> str:
        return str(serializers.DateTimeField().to_representation(point[0]))

    @extend_schema_field(AmountField(read_only=True))
    def get_equity(self, point: tuple[Any, Decimal]) -> str:
        return str(AmountField().to_representation(point[1]))


class CashFlowSerializer(serializers.Serializer[Any]):
    at = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_at(self, flow: tuple[Any, Decimal]) -> str:
        return str(serializers.DateTimeField().to_representation(flow[0]))

    @extend_schema_field(
        AmountField(read_only=True, help_text="A deposit, or a withdrawal (negative).")
    )
    def get_amount(self, flow: tuple[Any, Decimal]) -> str:
        return str(AmountField().to_representation(flow[1]))


class DrawdownSerializer(serializers.Serializer[Any]):
    depth = serializers.FloatField(help_text="Fraction of the peak, 0 when the curve never falls.")
    peak_to_trough = AmountField()
    peak_at = serializers.DateTimeField()
    trough_at = serializers.DateTimeField()
    recovered_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = SecondsField(
        source="duration", help_text="Peak to recovery (or to the last point)."
    )


class CurveStatisticsSerializer(serializers.Serializer[Any]):
    total_return = AmountField(
        help_text="Time-weighted: the periods' returns chained, deposits and withdrawals taken "
        "out (last equity over first, minus one, when there were none)."
    )
    sharpe_ratio = serializers.FloatField()
    sortino_ratio = serializers.FloatField()
    max_drawdown = DrawdownSerializer()
    max_drawdown_duration_seconds = SecondsField(
        source="max_drawdown_duration",
        help_text="The longest time spent below a previous peak.",
    )
    exposure = serializers.FloatField(help_text="Fraction of the curve's span in a trade.")
    periods_per_year = serializers.FloatField()


class PerformanceSerializer(serializers.Serializer[Any]):
    account = serializers.IntegerField(source="account.pk")
    currency = serializers.CharField(source="account.base_currency")
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    instrument = serializers.CharField(source="symbol", allow_null=True)
    trade_count = serializers.IntegerField()
    win_rate = serializers.FloatField(help_text="Fraction of round trips with net P&L above 0.")
    profit_factor = serializers.FloatField(
        allow_null=True, help_text="Gross profit over gross loss; null when no trade lost."
    )
    average_trade = AmountField(help_text="Mean net P&L per round trip.")
    net_pnl = AmountField(help_text="Sum of the round trips' net P&L.")
    fees = AmountField()
    equity_curve = EquityPointSerializer(many=True, help_text="The equity held, flows included.")
    cash_flows = CashFlowSerializer(
        many=True, help_text="Deposits and withdrawals within the curve's span, oldest first."
    )
    curve = CurveStatisticsSerializer(
        allow_null=True,
        help_text="Null with fewer than two points on the curve, or a period whose return "
        "cannot be measured.",
    )


# --- execution quality per algorithm and per strategy --------------------------------------------


class ExecutionQualityQuerySerializer(PerformanceQuerySerializer):
    start_date = serializers.DateField(
        required=False, help_text="Parents placed from this UTC day, inclusive."
    )
    end_date = serializers.DateField(
        required=False, help_text="Parents placed up to this UTC day, inclusive."
    )
    instrument = serializers.CharField(
        required=False, max_length=40, help_text="Only parents in this symbol."
    )
    strategy_id = serializers.IntegerField(
        required=False, min_value=1, max_value=BIGINT_MAX, help_text="Only this strategy's."
    )
    algorithm = serializers.ChoiceField(
        required=False, choices=ALGORITHMS, help_text="Only this algorithm's."
    )


class QualityGroupSerializer(serializers.Serializer[Any]):
    """One group's summary (execution.domain.quality.QualitySummary), flat."""

    key_name = ""  # the group's key field, shown first

    currency = serializers.CharField(help_text="The quote currency of the money amounts.")
    count = serializers.IntegerField(source="summary.count", help_text="Parents measured.")
    filled_count = serializers.IntegerField(
        source="summary.filled_count", help_text="Parents with at least one fill."
    )
    baseline_count = serializers.IntegerField(
        source="summary.baseline_count",
        help_text="Parents compared with the market-order baseline (an arrival book deep "
        "enough for the whole quantity, and a known shortfall).",
    )
    arrival_notional = AmountField(
        source="summary.arrival_notional", help_text="Sum of quantity x arrival mid."
    )
    fill_rate = AmountField(
        source="summary.fill_rate",
        help_text="Filled quantity x arrival mid over arrival_notional, 0 to 1.",
    )
    mean_fill_rate = AmountField(source="summary.mean_fill_rate")
    fees = AmountField(source="summary.fees", help_text="Paid, less rebates.")
    fees_bps = AmountField(
        source="summary.fees_bps",
        allow_null=True,
        help_text="Fees of the notional executed; null when nothing was.",
    )
    slippage_bps = AmountField(
        source="summary.weighted_slippage_bps",
        allow_null=True,
        help_text="Average price against the arrival mid, weighted by filled quantity x arrival "
        "mid; positive is worse. Null without fills.",
    )
    mean_slippage_bps = AmountField(source="summary.mean_slippage_bps", allow_null=True)
    median_slippage_bps = AmountField(source="summary.median_slippage_bps", allow_null=True)
    shortfall_bps = AmountField(
        source="summary.weighted_shortfall_bps",
        allow_null=True,
        help_text="Implementation shortfall (execution cost, fees, unfilled part marked at the "
        "final mid) weighted by quantity x arrival mid.",
    )
    mean_shortfall_bps = AmountField(source="summary.mean_shortfall_bps", allow_null=True)
    signal_to_first_fill_median = SecondsField(
        source="summary.median_signal_to_first_fill",
        allow_null=True,
        help_text="Seconds, over the parents with a fill; from the signal, or from the "
        "placement for a parent placed directly.",
    )
    signal_to_first_fill_mean = SecondsField(
        source="summary.mean_signal_to_first_fill", allow_null=True
    )
    signal_to_complete_median = SecondsField(
        source="summary.median_signal_to_complete",
        allow_null=True,
        help_text="Seconds, over the parents filled completely.",
    )
    signal_to_complete_mean = SecondsField(
        source="summary.mean_signal_to_complete", allow_null=True
    )
    baseline_cost_bps = AmountField(
        source="summary.baseline_cost_bps",
        allow_null=True,
        help_text="What one market order for each parent's quantity, walking its arrival book, "
        "would have cost (taker fee included), weighted like the shortfall over the compared "
        "parents. Null when none was compared.",
    )
    baseline_slippage_bps = AmountField(
        source="summary.baseline_slippage_bps",
        allow_null=True,
        help_text="The same market orders' average price against the arrival mid, no fees.",
    )
    improvement_bps = AmountField(
        source="summary.weighted_improvement_bps",
        allow_null=True,
        help_text="Baseline cost less shortfall over the compared parents, weighted; positive "
        "is better than immediate market execution.",
    )
    mean_improvement_bps = AmountField(source="summary.mean_improvement_bps", allow_null=True)
    improvement_pct = AmountField(
        source="summary.improvement_pct",
        allow_null=True,
        help_text="improvement_bps as a percentage of baseline_cost_bps: 30 means 30% less "
        "cost than immediate market execution.",
    )

    def get_fields(self) -> dict[str, Field[Any, Any, Any, Any]]:
        # The group's key first, as a table would show it.
        fields = dict(super().get_fields())
        return {self.key_name: fields.pop(self.key_name), **fields}


class AlgorithmQualitySerializer(QualityGroupSerializer):
    key_name = "algorithm"

    algorithm = serializers.CharField(source="key", help_text="The algorithm's kind.")


class StrategyQualitySerializer(QualityGroupSerializer):
    key_name = "strategy_id"

    strategy_id = serializers.IntegerField(
        source="key", allow_null=True, help_text="Null: parents placed by hand."
    )


class ExecutionQualityReportSerializer(serializers.Serializer[Any]):
    parent_count = serializers.IntegerField(help_text="Parents matching the filters.")
    measured_count = serializers.IntegerField(
        help_text="Those with an arrival mid, summarized below; a parent with neither a book at "
        "placement nor a child sent yet is left out."
    )
    by_algorithm = AlgorithmQualitySerializer(
        many=True, help_text="One entry per algorithm and currency."
    )
    by_strategy = StrategyQualitySerializer(
        many=True, help_text="One entry per strategy and currency, parents placed by hand first."
    )
