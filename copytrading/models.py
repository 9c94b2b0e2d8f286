"""Persistence of copy trading. Rows only: the rules live in copytrading.domain, the writes in
copytrading.services. Database constraints back the invariants (DESIGN.md)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from copytrading.domain.terms import (
    DEFAULT_ALLOCATION_PERCENT,
    DEFAULT_COPY_STOP_LOSS_PERCENT,
    DEFAULT_SLIPPAGE_BPS,
    MAX_SLIPPAGE_BPS,
    CopyMode,
)
from execution.models import Account, AccountMode, Fill, Instrument, Order, amount_field
from strategies.models import Strategy


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "active"
    PAUSED = "paused", "paused"
    STOPPED = "stopped", "stopped"


LIVE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)


class ModeChoice(models.TextChoices):
    PERCENT = CopyMode.PERCENT, "percent of capital"
    FIXED_RATIO = CopyMode.FIXED_RATIO, "fixed ratio"
    FIXED_AMOUNT = CopyMode.FIXED_AMOUNT, "fixed amount per trade"


class CopySubscription(models.Model):
    """A follower's account copying one strategy, with its own capital and risk settings."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="copy_subscriptions"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="copy_subscriptions"
    )
    strategy = models.ForeignKey(
        Strategy, on_delete=models.PROTECT, related_name="copy_subscriptions"
    )
    # Paper or live: the follower's account must trade in this mode (a paper copy first).
    account_mode = models.CharField(
        max_length=8, choices=AccountMode.choices, default=AccountMode.PAPER
    )
    mode = models.CharField(max_length=12, choices=ModeChoice.choices, default=ModeChoice.PERCENT)
    allocation_percent = models.DecimalField(
        max_digits=9,
        decimal_places=4,
        default=DEFAULT_ALLOCATION_PERCENT,
        help_text="of the account's equity, (0, 100]",
    )
    capital_cap = amount_field(null=True, blank=True, help_text="blank: no cap")
    copy_ratio = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(1))
    fixed_amount = amount_field(null=True, blank=True, help_text="per trade, fixed amount mode")
    max_trade_value = amount_field(null=True, blank=True)
    max_position_value = amount_field(null=True, blank=True)
    stop_loss_percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True, help_text="per copied position"
    )
    take_profit_percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True, help_text="per copied position"
    )
    copy_stop_loss_percent = models.DecimalField(
        max_digits=9,
        decimal_places=4,
        default=DEFAULT_COPY_STOP_LOSS_PERCENT,
        help_text="stop copying when the subscription's equity falls this much from its peak",
    )
    close_on_copy_stop_loss = models.BooleanField(default=False)
    daily_loss_limit_percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True
    )
    slippage_bps = models.PositiveIntegerField(default=DEFAULT_SLIPPAGE_BPS)
    copy_open_positions = models.BooleanField(default=False)

    status = models.CharField(
        max_length=8, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    stop_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    # Equity of the subscription (start capital plus the P&L of what it copied, net of fees):
    # the copy stop loss measures from its peak, the daily loss limit from the day's start.
    start_capital = amount_field()
    peak_equity = amount_field()
    equity_day = models.DateField(null=True, blank=True)
    equity_day_start = amount_field(null=True, blank=True)

    class Meta:
        ordering = ["follower_id", "-created_at"]
        indexes = [models.Index(fields=["strategy", "status"], name="copy_sub_strategy_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "strategy"],
                condition=Q(status__in=[s.value for s in LIVE_STATUSES]),
                name="copy_sub_one_live_per_account_strategy",
            ),
            models.CheckConstraint(
                condition=Q(allocation_percent__gt=0) & Q(allocation_percent__lte=100),
                name="copy_sub_allocation_percent",
            ),
            models.CheckConstraint(
                condition=Q(capital_cap__isnull=True) | Q(capital_cap__gt=0),
                name="copy_sub_capital_cap_positive",
            ),
            models.CheckConstraint(condition=Q(copy_ratio__gt=0), name="copy_sub_ratio_positive"),
            models.CheckConstraint(
                condition=Q(fixed_amount__isnull=True) | Q(fixed_amount__gt=0),
                name="copy_sub_fixed_amount_positive",
            ),
            models.CheckConstraint(
                condition=~Q(mode=ModeChoice.FIXED_AMOUNT) | Q(fixed_amount__isnull=False),
                name="copy_sub_fixed_amount_mode_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(max_trade_value__isnull=True) | Q(max_trade_value__gt=0),
                name="copy_sub_max_trade_value_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_position_value__isnull=True) | Q(max_position_value__gt=0),
                name="copy_sub_max_position_value_positive",
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_percent__isnull=True)
                | (Q(stop_loss_percent__gt=0) & Q(stop_loss_percent__lte=100)),
                name="copy_sub_stop_loss_percent",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_percent__isnull=True) | Q(take_profit_percent__gt=0),
                name="copy_sub_take_profit_percent",
            ),
            models.CheckConstraint(
                condition=Q(copy_stop_loss_percent__gt=0) & Q(copy_stop_loss_percent__lte=100),
                name="copy_sub_copy_stop_loss_percent",
            ),
            models.CheckConstraint(
                condition=Q(daily_loss_limit_percent__isnull=True)
                | (Q(daily_loss_limit_percent__gt=0) & Q(daily_loss_limit_percent__lte=100)),
                name="copy_sub_daily_loss_limit_percent",
            ),
            models.CheckConstraint(
                condition=Q(slippage_bps__lte=MAX_SLIPPAGE_BPS), name="copy_sub_slippage_bps"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=ModeChoice.values), name="copy_sub_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(account_mode__in=AccountMode.values), name="copy_sub_account_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values), name="copy_sub_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=SubscriptionStatus.STOPPED) | Q(stopped_at__isnull=False),
                name="copy_sub_stopped_has_time",
            ),
            models.CheckConstraint(
                condition=Q(start_capital__gt=0), name="copy_sub_start_capital_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"account {self.account_id} copies strategy {self.strategy_id} [{self.status}]"


class CopyTradeKind(models.TextChoices):
    MIRROR = "mirror", "mirror of a leader fill"
    JOIN = "join", "leader position copied on joining"
    CLOSE = "close", "close on stop or copy stop loss"


class CopyTrade(models.Model):
    """What one leader fill (or a join or a stop) did for one subscription: the follower's
    order, or the reason there is none. ``actual_quantity`` is what the order filled."""

    subscription = models.ForeignKey(
        CopySubscription, on_delete=models.PROTECT, related_name="copy_trades"
    )
    kind = models.CharField(max_length=6, choices=CopyTradeKind.choices)
    leader_fill = models.ForeignKey(
        Fill, null=True, blank=True, on_delete=models.PROTECT, related_name="copy_trades"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4)
    leader_price = amount_field(null=True, blank=True)
    follower_order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="copy_trade"
    )
    intended_quantity = amount_field(help_text="before lot rounding and the follower's limits")
    quantity = amount_field(help_text="ordered; zero when skipped")
    actual_quantity = amount_field(default=Decimal(0), help_text="filled")
    skipped_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subscription", "instrument"], name="copy_trade_sub_instrument")
        ]
        constraints = [
            # Exactly one follower order per (subscription, leader fill): a fill event
            # delivered again writes nothing.
            models.UniqueConstraint(
                fields=["subscription", "leader_fill"],
                condition=Q(leader_fill__isnull=False),
                name="copy_trade_one_per_leader_fill",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CopyTradeKind.values), name="copy_trade_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind=CopyTradeKind.MIRROR) | Q(leader_fill__isnull=False),
                name="copy_trade_mirror_has_fill",
            ),
            models.CheckConstraint(
                condition=(Q(follower_order__isnull=True) & ~Q(skipped_reason=""))
                | (Q(follower_order__isnull=False) & Q(skipped_reason="")),
                name="copy_trade_order_or_reason",
            ),
            models.CheckConstraint(
                condition=Q(intended_quantity__gte=0)
                & Q(quantity__gte=0)
                & Q(actual_quantity__gte=0)
                & Q(actual_quantity__lte=F("quantity")),
                name="copy_trade_quantities",
            ),
        ]

    def __str__(self) -> str:
        what = f"order {self.follower_order_id}" if self.follower_order_id else "skipped"
        return f"{self.kind} {self.side} {self.quantity} of {self.subscription_id}: {what}"


class SubscriptionEquitySnapshot(models.Model):
    """A subscription's equity (start capital plus the P&L of what it copied, net of fees) at
    the start of a UTC day, taken by the daily task: the P&L series and statistics read these."""

    subscription = models.ForeignKey(
        CopySubscription, on_delete=models.CASCADE, related_name="equity_snapshots"
    )
    day = models.DateField()
    equity = amount_field()
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription_id", "day"]
        constraints = [
            # One per day: the task run twice in a day writes nothing the second time.
            models.UniqueConstraint(fields=["subscription", "day"], name="copy_snap_sub_day")
        ]

    def __str__(self) -> str:
        return f"subscription {self.subscription_id} on {self.day}: {self.equity}"


class FollowerAccountSnapshot(models.Model):
    """A follower account's equity and total deposits at the start of a UTC day: the day's
    P&L is the change in equity less the change in deposits."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    equity = amount_field()
    deposited = amount_field()
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="copy_snap_account_day")
        ]

    def __str__(self) -> str:
        return f"account {self.account_id} on {self.day}: {self.equity}"
