"""Persistence of the trading core. Rows only: the rules live in execution.domain, the writes in
execution.services. Database constraints back the invariants that matter (DESIGN.md)."""

from __future__ import annotations

import sys
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q

from execution.domain.errors import DomainError
from execution.domain.orders import OrderRequest, OrderStatus, OrderType, TimeInForce
from execution.domain.risk import RiskLimits
from execution.domain.values import (
    DECIMAL_PLACES,
    MAX_DIGITS,
    InstrumentSpec,
    Liquidity,
    Side,
    plain,
)


def amount_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    """A price, quantity or money column at the project-wide precision."""
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def _choices(enum: type[Any]) -> list[tuple[str, str]]:
    return [(member.value, member.value.replace("_", " ")) for member in enum]


class AccountMode(models.TextChoices):
    PAPER = "paper", "paper"
    LIVE = "live", "live"


class Instrument(models.Model):
    symbol = models.CharField(max_length=40, unique=True, help_text="e.g. BTC-USDT")
    base_currency = models.CharField(max_length=16)
    quote_currency = models.CharField(max_length=16)
    tick_size = amount_field()
    lot_size = amount_field()
    min_quantity = amount_field(default=Decimal(0))
    min_notional = amount_field(default=Decimal(0))
    is_active = models.BooleanField(default=True)
    # The latest mark: the reference price for risk checks and unrealized P&L.
    mark_price = amount_field(null=True, blank=True)
    marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tick_size__gt=0), name="instrument_tick_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(lot_size__gt=0), name="instrument_lot_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(min_quantity__gte=0), name="instrument_min_qty_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(min_notional__gte=0), name="instrument_min_notional_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(mark_price__isnull=True) | Q(mark_price__gt=0),
                name="instrument_mark_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.symbol

    def clean(self) -> None:
        """Forms (the admin's) check the same instrument rules as the domain."""
        try:
            self.spec()
        except DomainError as error:
            raise ValidationError(str(error)) from None

    def spec(self) -> InstrumentSpec:
        return InstrumentSpec(
            symbol=self.symbol,
            base=self.base_currency,
            quote=self.quote_currency,
            tick_size=plain(self.tick_size),
            lot_size=plain(self.lot_size),
            min_quantity=plain(self.min_quantity),
            min_notional=plain(self.min_notional),
        )


class Account(models.Model):
    """A trading account. Positions are margin style: cash is deposits plus realized P&L."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trading_accounts"
    )
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=8, choices=AccountMode.choices, default=AccountMode.PAPER)
    base_currency = models.CharField(max_length=16, default="USDT")
    created_at = models.DateTimeField(auto_now_add=True)

    # Pre-trade risk limits (fractions are of equity; blank means no limit).
    min_order_quantity = amount_field(null=True, blank=True)
    max_order_quantity = amount_field(null=True, blank=True)
    max_order_value = amount_field(null=True, blank=True, help_text="in the quote currency")
    max_price_deviation = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.05"),
        help_text="largest distance of a limit or stop price from the mid, as a fraction",
    )
    daily_loss_limit = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.10"),
        help_text="fraction of start-of-day equity (UTC day); breaching it blocks new risk",
    )
    max_position_value = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.50"),
        help_text="largest position value in one instrument, as a fraction of equity",
    )

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="account_unique_name_per_owner"),
            models.CheckConstraint(
                condition=Q(max_price_deviation__gt=0)
                & Q(daily_loss_limit__gt=0)
                & Q(max_position_value__gt=0),
                name="account_risk_fractions_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_order_quantity__isnull=True)
                | Q(max_order_quantity__isnull=True)
                | Q(min_order_quantity__lte=F("max_order_quantity")),
                name="account_min_order_below_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mode})"

    def risk_limits(self) -> RiskLimits:
        return RiskLimits(
            min_order_quantity=self.min_order_quantity,
            max_order_quantity=self.max_order_quantity,
            max_order_value=self.max_order_value,
            max_price_deviation=self.max_price_deviation,
            daily_loss_limit=self.daily_loss_limit,
            max_position_value=self.max_position_value,
        )


class Balance(models.Model):
    """Net cash deposited in one currency. Realized P&L stays on positions, so recording a fill
    never touches a row that every fill of the account would contend for."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="balances")
    currency = models.CharField(max_length=16)
    deposited = amount_field(default=Decimal(0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["account", "currency"], name="balance_unique_currency"),
        ]

    def __str__(self) -> str:
        return f"{self.deposited} {self.currency}"


class ParentOrder(models.Model):
    """An execution algorithm working a quantity through child orders.

    ``state`` is the algorithm's whole state (execution.domain.algos.ParentOrder as JSON) and
    ``outbox`` the actions it decided but that were not carried out yet: a worker that dies
    between deciding and acting loses nothing, and carrying an action out twice is harmless
    (a child's client order id derives from the parent and its number). Status, next due time
    and fills are copies of the state kept as columns for queries and the scheduler.
    """

    id = models.CharField(primary_key=True, max_length=20, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="parent_orders")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="parent_orders"
    )
    # A plain id, not a foreign key: execution imports no app above it (DESIGN.md).
    strategy_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    side = models.CharField(max_length=4, choices=_choices(Side))
    quantity = amount_field()
    algorithm = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    state = models.JSONField(encoder=DjangoJSONEncoder)
    outbox = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=20, db_index=True)
    reason = models.TextField(blank=True, default="")
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    filled_quantity = amount_field(default=Decimal(0))
    average_fill_price = amount_field(null=True, blank=True)
    # The L2 book when the parent was placed ({"bids": [[price, qty], ...], "asks": ...} as
    # strings, best first) and when its signal arrived: the execution-quality baseline and the
    # signal-to-fill times need both, and neither can be recovered later.
    arrival_book = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    signal_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="parent_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=F("quantity")),
                name="parent_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.side} {self.quantity} {self.instrument_id} [{self.status}]"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_order_id = models.CharField(max_length=64, unique=True)
    venue_order_id = models.CharField(max_length=128, blank=True, default="")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="orders")
    parent = models.ForeignKey(
        "ParentOrder", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # A plain id, not a foreign key: execution imports no app above it (DESIGN.md).
    strategy_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    side = models.CharField(max_length=4, choices=_choices(Side))
    order_type = models.CharField(max_length=12, choices=_choices(OrderType))
    time_in_force = models.CharField(
        max_length=10, choices=_choices(TimeInForce), default=TimeInForce.GTC.value
    )
    quantity = amount_field()
    price = amount_field(null=True, blank=True)
    stop_price = amount_field(null=True, blank=True)
    reduce_only = models.BooleanField(default=False)
    filled_quantity = amount_field(default=Decimal(0))
    filled_notional = amount_field(default=Decimal(0))  # sum of fill qty x price: exact average
    average_fill_price = amount_field(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=_choices(OrderStatus), default=OrderStatus.NEW.value, db_index=True
    )
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set just before the venue call: a new order with sent_at may have reached the venue, so
    # it is reconciled by client order id and never resent blindly.
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "status"], name="order_account_status"),
            models.Index(fields=["instrument", "status"], name="order_instrument_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=F("quantity")),
                name="order_filled_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(stop_price__isnull=True) | Q(stop_price__gt=0),
                name="order_stop_price_positive",
            ),
            models.CheckConstraint(
                condition=~Q(order_type__in=[OrderType.LIMIT.value, OrderType.STOP_LIMIT.value])
                | Q(price__isnull=False),
                name="order_limit_has_price",
            ),
            models.CheckConstraint(
                condition=~Q(
                    order_type__in=[OrderType.STOP_MARKET.value, OrderType.STOP_LIMIT.value]
                )
                | Q(stop_price__isnull=False),
                name="order_stop_has_stop_price",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in OrderStatus]), name="order_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.instrument_id} {self.order_type} [{self.status}]"

    def as_request(self) -> OrderRequest:
        """The order as the domain and the venues see it."""
        return OrderRequest(
            symbol=self.instrument.symbol,
            side=Side(self.side),
            order_type=OrderType(self.order_type),
            quantity=plain(self.quantity),
            time_in_force=TimeInForce(self.time_in_force),
            price=None if self.price is None else plain(self.price),
            stop_price=None if self.stop_price is None else plain(self.stop_price),
            reduce_only=self.reduce_only,
        )


class Fill(models.Model):
    # No index of its own: the unique (order, venue_trade_id) index serves order lookups, and
    # a second one lured the planner into scanning every fill of an order to find one.
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills", db_index=False)
    venue_trade_id = models.CharField(max_length=128)
    quantity = amount_field()
    price = amount_field()
    fee = amount_field(default=Decimal(0))
    fee_currency = models.CharField(max_length=16)
    liquidity = models.CharField(max_length=5, choices=_choices(Liquidity))
    filled_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-filled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "venue_trade_id"], name="fill_unique_trade_per_order"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price} ({self.venue_trade_id})"


class Position(models.Model):
    """Signed quantity (> 0 long, < 0 short) with its exact cost basis, so that realized plus
    unrealized P&L always equals the mark-to-market change minus fees."""

    # Served by the unique (account, instrument) index.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="positions", db_index=False
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = amount_field(default=Decimal(0))
    cost_basis = amount_field(default=Decimal(0))
    average_entry_price = amount_field(null=True, blank=True)
    realized_pnl = amount_field(default=Decimal(0), help_text="net of fees")
    fees_paid = amount_field(default=Decimal(0))
    unrealized_pnl = amount_field(default=Decimal(0))
    mark_price = amount_field(null=True, blank=True)
    marked_at = models.DateTimeField(null=True, blank=True)
    leverage = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal(1))
    margin = amount_field(default=Decimal(0))
    stop_loss_price = amount_field(null=True, blank=True)
    take_profit_price = amount_field(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)  # when it last left flat or flipped
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "instrument_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="position_unique_per_instrument"
            ),
            models.CheckConstraint(condition=Q(leverage__gt=0), name="position_leverage_positive"),
            models.CheckConstraint(condition=Q(margin__gte=0), name="position_margin_non_negative"),
            models.CheckConstraint(
                condition=~Q(quantity=0) | Q(cost_basis=0), name="position_flat_has_no_cost"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.instrument_id} in account {self.account_id}"


class AccountDay(models.Model):
    """One UTC day of an account: the equity the daily loss limit is measured from."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    start_equity = amount_field()  # at the day's opening, before the day's deposits
    # Deposits less withdrawals since the opening: cash moved in or out is neither a gain nor
    # a loss, so the daily loss limit measures from start_equity + deposits.
    deposits = amount_field(default=Decimal(0))
    loss_limit_breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="account_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}"

    @property
    def loss_baseline(self) -> Decimal:
        """The equity today's P&L is measured from: the opening plus today's net deposits."""
        baseline: Decimal = self.start_equity + self.deposits
        return baseline


class AccountBreakers(models.Model):
    """The circuit breakers of one account (execution.domain.breakers.BreakerState as JSON)."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="breakers"
    )
    state = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"breakers of account {self.account_id}"


class InstrumentBreaker(models.Model):
    """The market-wide halt of one instrument (execution.domain.breakers.SpreadHalt as columns).

    Market data updates it on every book, whatever account trades the instrument; a halt holds
    once spread_stability_norm_100 has stayed above the threshold long enough, so a feed that
    goes quiet while unstable still halts (the pure ``SpreadHalt.halted_at(now)``).
    """

    instrument = models.OneToOneField(
        Instrument, on_delete=models.CASCADE, primary_key=True, related_name="breaker"
    )
    stability = models.FloatField(null=True, blank=True)  # the latest observation
    observed_at = models.DateTimeField(null=True, blank=True)
    unstable_since = models.DateTimeField(null=True, blank=True)
    halted_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"breaker of {self.instrument_id}"


class ExchangeCredential(models.Model):
    """A live account's exchange API key, secret and passphrase as Fernet tokens
    (execution.venues.credentials); the plaintext exists only while a client is built."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="exchange_credential"
    )
    exchange_id = models.CharField(max_length=40, default="okx", help_text="a ccxt exchange id")
    sandbox = models.BooleanField(default=True, help_text="the exchange's demo trading")
    api_key = models.TextField()
    secret = models.TextField()
    password = models.TextField(blank=True, default="")  # empty: the exchange has none
    key_hint = models.CharField(max_length=8, blank=True, default="")  # last 4 of the key
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.exchange_id} key ...{self.key_hint} of account {self.account_id}"


class EventKind(models.TextChoices):
    ACCOUNT_OPENED = "account_opened"
    FUNDS_DEPOSITED = "funds_deposited"
    ORDER_CREATED = "order_created"
    ORDER_REFUSED = "order_refused"
    ORDER_SENT = "order_sent"
    ORDER_STATUS_CHANGED = "order_status_changed"
    ORDER_AMENDED = "order_amended"
    ORDER_CANCEL_REQUESTED = "order_cancel_requested"
    FILL_RECORDED = "fill_recorded"
    POSITION_EXITS_SET = "position_exits_set"
    PARENT_ORDER_CREATED = "parent_order_created"
    PARENT_ORDER_STEPPED = "parent_order_stepped"
    PARENT_ORDER_ENDED = "parent_order_ended"
    EXIT_TRIGGERED = "exit_triggered"
    BREAKER = "breaker"
    SIGNAL_EXECUTED = "signal_executed"
    SIGNAL_SKIPPED = "signal_skipped"
    SIGNAL_REFUSED = "signal_refused"
    DAILY_LOSS_LIMIT_BREACHED = "daily_loss_limit_breached"
    VENUE_ERROR = "venue_error"
    RECONCILIATION = "reconciliation"  # a difference with the venue, and its correction
    CREDENTIALS_CHANGED = "credentials_changed"


class AppendOnlyError(Exception):
    pass


class ExecutionEvent(models.Model):
    """The append-only audit trail of every state change, with who or what caused it."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40, choices=EventKind.choices, db_index=True)
    actor = models.CharField(max_length=100, help_text="who or what caused it, e.g. user:3")
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("execution events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("execution events are append-only")


# --- Market data history ----------------------------------------------------------------------
# Prices and sizes here are float8, not numeric: market history feeds features, charts and
# backtests in bulk as numpy floats (DESIGN: floats for features), and every source delivers
# binary floats already. float8 returns a float's shortest repr, so Decimal(str(price))
# recovers the source's decimal text. Measured on PostgreSQL (bench/bench_marketdata.py):
# numeric(38,18) stores 1.3-1.8x slower and loads a 100,000-bar window 2.7-3.9x slower.
# Composite primary keys: no id column and no second index on tables of millions of rows.


_LARGEST_FLOAT = sys.float_info.max  # a literal both databases read, unlike infinity


class AggressorSide(models.TextChoices):
    BUY = "buy", "buy"  # the taker bought: a trade at the ask
    SELL = "sell", "sell"


class Candle(models.Model):
    """One OHLCV bar of an instrument, opening at ``open_time`` (UTC) and lasting ``interval``
    (ccxt's names: 1m, 1h, 1d, 1w, 1M)."""

    pk = models.CompositePrimaryKey("instrument", "interval", "open_time")
    # The primary key's index, instrument first, serves lookups by instrument.
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="candles", db_index=False
    )
    interval = models.CharField(max_length=4)
    open_time = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()

    class Meta:
        ordering = ["instrument_id", "interval", "open_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(high__gte=F("open")) & Q(high__gte=F("close")),
                name="candle_high_above_open_close",
            ),
            models.CheckConstraint(
                condition=Q(low__lte=F("open")) & Q(low__lte=F("close")),
                name="candle_low_below_open_close",
            ),
            models.CheckConstraint(condition=Q(low__gt=0), name="candle_low_positive"),
            models.CheckConstraint(condition=Q(volume__gte=0), name="candle_volume_non_negative"),
            # With the checks above these keep every column finite: PostgreSQL orders NaN
            # above every number, so NaN would pass the others.
            models.CheckConstraint(
                condition=Q(high__lte=_LARGEST_FLOAT) & Q(volume__lte=_LARGEST_FLOAT),
                name="candle_finite",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} {self.open_time:%Y-%m-%d %H:%M}"


class MarketTrade(models.Model):
    """One trade printed on a venue (anyone's, not ours: those are Fill rows)."""

    pk = models.CompositePrimaryKey("instrument", "venue_trade_id")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="market_trades", db_index=False
    )
    venue_trade_id = models.CharField(max_length=64)
    traded_at = models.DateTimeField()
    price = models.FloatField()
    size = models.FloatField()
    aggressor_side = models.CharField(max_length=4, choices=AggressorSide.choices)

    class Meta:
        ordering = ["instrument_id", "traded_at"]
        indexes = [models.Index(fields=["instrument", "traded_at"], name="market_trade_time")]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="market_trade_price_positive"),
            models.CheckConstraint(condition=Q(size__gt=0), name="market_trade_size_positive"),
            models.CheckConstraint(
                condition=Q(price__lte=_LARGEST_FLOAT) & Q(size__lte=_LARGEST_FLOAT),
                name="market_trade_finite",
            ),
            models.CheckConstraint(
                condition=Q(aggressor_side__in=AggressorSide.values),
                name="market_trade_side_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aggressor_side} {self.size} @ {self.price} ({self.venue_trade_id})"


class BookSnapshot(models.Model):
    """The top ``depth`` levels of an L2 book at one time: ``bids`` and ``asks`` are
    [[price, size], ...] lists, best first."""

    pk = models.CompositePrimaryKey("instrument", "taken_at")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="book_snapshots", db_index=False
    )
    taken_at = models.DateTimeField()
    depth = models.PositiveSmallIntegerField()
    bids = models.JSONField()
    asks = models.JSONField()

    class Meta:
        ordering = ["instrument_id", "taken_at"]
        constraints = [
            models.CheckConstraint(condition=Q(depth__gt=0), name="book_snapshot_depth_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} book at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class OutboxMessage(models.Model):
    """A notification written in the transaction of the rows it announces (a transactional
    outbox, execution.outbox): it is published after commit and marked sent; one the broker
    refused, or whose process died before publishing, is published again by the relay."""

    topic = models.CharField(max_length=64)
    object_id = models.BigIntegerField()  # the row announced (a fill's id)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    # When the relay may (re)publish it: a grace after commit for the committing process to
    # publish it first, later a backoff after each failed attempt.
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's query, over the few unsent rows only.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_unsent_due",
                condition=Q(sent_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else f"unsent after {self.attempts} attempts"
        return f"{self.topic} {self.object_id} ({state})"
