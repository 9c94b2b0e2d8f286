"""Persistence of strategies, their signals and backtests. Rows only: validation and writes
live in strategies.services; database constraints back the invariants (DESIGN.md)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from execution.models import Account, Instrument, ParentOrder, amount_field
from mlmodels.models import ModelVersion
from strategies.presets import Preset


class StrategyStatus(models.TextChoices):
    ACTIVE = "active", "active"
    PAUSED = "paused", "paused"
    STOPPED = "stopped", "stopped"


class Visibility(models.TextChoices):
    PRIVATE = "private", "private"
    PUBLIC = "public", "public"


class PresetChoice(models.TextChoices):
    CONSERVATIVE = Preset.CONSERVATIVE, "conservative"
    AGGRESSIVE = Preset.AGGRESSIVE, "aggressive"
    HIGH_FREQUENCY = Preset.HIGH_FREQUENCY, "high frequency"


def _fraction_field(default: str, help_text: str) -> models.DecimalField[Decimal, Decimal]:
    return models.DecimalField(
        max_digits=9, decimal_places=6, default=Decimal(default), help_text=help_text
    )


class Strategy(models.Model):
    """A configured strategy of one owner: its kind and validated config, the instruments and
    interval it trades, the account its signals go to and the settings of its signals."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=40, help_text="A name of strategies.kinds.KINDS.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strategies"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="strategies")
    instruments = models.ManyToManyField(Instrument, related_name="strategies")
    interval = models.CharField(max_length=4, help_text="Candle interval, e.g. 1h.")
    config = models.JSONField(default=dict, help_text="The kind's parameters, validated.")
    preset = models.CharField(max_length=16, choices=PresetChoice.choices, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="strategies"
    )
    status = models.CharField(
        max_length=8, choices=StrategyStatus.choices, default=StrategyStatus.PAUSED
    )
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    confidence_threshold = _fraction_field("0.7", "least confidence a signal needs, 0..1")
    max_position_size = _fraction_field("0.1", "largest position, a fraction of equity")
    min_liquidity_score = _fraction_field("0.5", "least liquidity score of the book, 0..1")
    stop_loss_base = _fraction_field("0.02", "stop-loss distance, a fraction of the entry")
    take_profit_base = _fraction_field("0.04", "take-profit distance, a fraction of the entry")
    max_signals_per_minute = models.PositiveIntegerField(default=10)
    signal_decay_seconds = models.PositiveIntegerField(default=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["owner_id", "name"]
        verbose_name_plural = "strategies"
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="strategy_owner_name_unique"),
            models.CheckConstraint(
                condition=Q(status__in=StrategyStatus.values), name="strategy_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(visibility__in=Visibility.values), name="strategy_visibility_valid"
            ),
            models.CheckConstraint(
                condition=Q(preset="") | Q(preset__in=PresetChoice.values),
                name="strategy_preset_valid",
            ),
            models.CheckConstraint(
                condition=Q(confidence_threshold__gte=0) & Q(confidence_threshold__lte=1),
                name="strategy_confidence_threshold_fraction",
            ),
            models.CheckConstraint(
                condition=Q(max_position_size__gt=0) & Q(max_position_size__lte=1),
                name="strategy_max_position_size_fraction",
            ),
            models.CheckConstraint(
                condition=Q(min_liquidity_score__gte=0) & Q(min_liquidity_score__lte=1),
                name="strategy_min_liquidity_score_fraction",
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_base__gt=0) & Q(stop_loss_base__lte=1),
                name="strategy_stop_loss_base_fraction",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_base__gt=0) & Q(take_profit_base__lte=10),
                name="strategy_take_profit_base_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_signals_per_minute__gte=1) & Q(max_signals_per_minute__lte=600),
                name="strategy_max_signals_per_minute_range",
            ),
            models.CheckConstraint(
                condition=Q(signal_decay_seconds__gte=1) & Q(signal_decay_seconds__lte=86400),
                name="strategy_signal_decay_seconds_range",
            ),
            models.CheckConstraint(
                condition=Q(status=StrategyStatus.STOPPED, stopped_at__isnull=False)
                | ~Q(status=StrategyStatus.STOPPED),
                name="strategy_stopped_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SignalSide(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class SignalOutcome(models.TextChoices):
    PENDING = "pending", "pending"
    EXECUTED = "executed", "executed"
    SKIPPED = "skipped", "skipped"
    REFUSED = "refused", "refused"
    EXPIRED = "expired", "expired"


class Signal(models.Model):
    """One decision of a strategy and what became of it: executed (``parent_order`` is the
    order that carried it out), skipped (rate limit, low confidence), refused (risk) or
    expired (not executed within the strategy's decay time)."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="signals")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(help_text="When the strategy decided (a bar's close).")
    side = models.CharField(max_length=4, choices=SignalSide.choices)
    target_position = models.FloatField(help_text="-1 fully short .. 1 fully long")
    strength = models.FloatField(default=1.0, help_text="0..1")
    confidence = models.FloatField(null=True, blank=True, help_text="a model's, 0..1")
    price = amount_field(null=True, blank=True, help_text="the reference price")
    size = amount_field(null=True, blank=True)
    stop_loss = amount_field(null=True, blank=True)
    take_profit = amount_field(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(
        max_length=8, choices=SignalOutcome.choices, default=SignalOutcome.PENDING
    )
    outcome_detail = models.CharField(max_length=300, blank=True)
    # A foreign key is allowed: strategies sits above execution (DESIGN.md).
    parent_order = models.ForeignKey(
        ParentOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="signals"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["strategy", "-at"], name="signal_strategy_at")]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=SignalSide.values), name="signal_side"),
            models.CheckConstraint(
                condition=Q(outcome__in=SignalOutcome.values), name="signal_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(target_position__gte=-1) & Q(target_position__lte=1),
                name="signal_target_in_range",
            ),
            models.CheckConstraint(
                condition=Q(strength__gte=0) & Q(strength__lte=1), name="signal_strength_fraction"
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True)
                | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="signal_confidence_fraction",
            ),
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gt=0), name="signal_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(size__isnull=True) | Q(size__gt=0), name="signal_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(stop_loss__isnull=True) | Q(stop_loss__gt=0),
                name="signal_stop_loss_positive",
            ),
            models.CheckConstraint(
                condition=Q(take_profit__isnull=True) | Q(take_profit__gt=0),
                name="signal_take_profit_positive",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=SignalOutcome.EXECUTED) | Q(parent_order__isnull=False),
                name="signal_executed_has_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id} {self.side} {self.at:%Y-%m-%d %H:%M}"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class BacktestData(models.TextChoices):
    CANDLES = "candles", "candles"
    L2 = "l2", "L2 books and trades"


class Backtest(models.Model):
    """One backtest run by the ``strategies.run_backtest`` task. The kind and config are a
    snapshot taken when it was asked for, so a result still says what produced it after the
    strategy changes or is deleted."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests"
    )
    strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="backtests"
    )
    kind = models.CharField(max_length=40)
    config = models.JSONField(default=dict)
    symbol = models.CharField(max_length=40)
    interval = models.CharField(max_length=4)
    start = models.DateTimeField(null=True, blank=True, help_text="blank: the first candle")
    end = models.DateTimeField(null=True, blank=True, help_text="blank: after the last candle")
    costs = models.JSONField(default=dict, help_text="fees, slippage, latency, size and cash")
    data = models.CharField(
        max_length=8, choices=BacktestData.choices, default=BacktestData.CANDLES,
        help_text="what it runs on: stored candles, or stored L2 books and trades",
    )  # fmt: skip
    execution = models.JSONField(
        default=dict, blank=True, help_text="an L2 backtest's execution algorithm and latency"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="backtests",
        help_text="A model kind's version, chosen when asked for; refitted walk-forward.",
    )  # fmt: skip
    comparison = models.ForeignKey(
        "BacktestComparison",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="backtests",
        help_text="the comparison run this backtest is one column of",
    )
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    message = models.CharField(max_length=200, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    equity_curve = models.JSONField(default=list, blank=True, help_text="[time, equity] pairs")
    trades = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BacktestStatus.values), name="backtest_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="backtest_progress_fraction"
            ),
            models.CheckConstraint(
                condition=Q(start__isnull=True)
                | Q(end__isnull=True)
                | Q(start__lt=models.F("end")),
                name="backtest_start_before_end",
            ),
            models.CheckConstraint(
                condition=Q(data__in=BacktestData.values), name="backtest_data_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.kind} {self.symbol} {self.interval}"


class RunnerState(models.Model):
    """What the live runner keeps of one active strategy on one instrument between bars: the
    last bar it evaluated (a later bar must be newer: older ones are refused as stale), the
    target it holds and the quantity of a full target. That quantity is fixed at the first
    evaluation (``max_position_size`` of the account's equity at that close), as a backtest's
    order size is, so a position is sized the same from entry to exit."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="runner_states")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    order_size = amount_field(help_text="quantity held at a full target (1.0)")
    last_bar_start = models.DateTimeField()
    target_position = models.FloatField(default=0.0, help_text="-1 fully short .. 1 fully long")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "instrument"], name="runner_state_one_per_instrument"
            ),
            models.CheckConstraint(
                condition=Q(order_size__gt=0), name="runner_state_order_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(target_position__gte=-1) & Q(target_position__lte=1),
                name="runner_state_target_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"runner {self.strategy_id} {self.instrument_id} at {self.last_bar_start}"


class StrategyEvaluation(models.Model):
    """One evaluation of a strategy on one closed bar of one instrument. The unique row is
    claimed in the transaction that records the bar's signal, so a bar delivered twice (a task
    redelivered, a retry after a crash) is evaluated once and never signals twice."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="evaluations")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    bar_start = models.DateTimeField()
    target_position = models.FloatField(help_text="the target after this bar")
    signal = models.OneToOneField(
        Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluation"
    )
    evaluated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-bar_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "instrument", "bar_start"],
                name="strategy_evaluation_once_per_bar",
            ),
            models.CheckConstraint(
                condition=Q(target_position__gte=-1) & Q(target_position__lte=1),
                name="strategy_evaluation_target_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.strategy_id} {self.instrument_id} {self.bar_start}"


class BacktestComparison(models.Model):
    """Several strategies backtested side by side on exactly the same bars and costs: one
    backtest row each (``backtests``, which carry the status and progress). The window is
    pinned when it is asked for (the first bar's start to just after the last bar's), so
    candles imported while it runs change none of its columns."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_comparisons"
    )
    symbol = models.CharField(max_length=40)
    interval = models.CharField(max_length=4)
    start = models.DateTimeField(help_text="the first bar's start")
    end = models.DateTimeField(help_text="just after the last bar's start (exclusive)")
    costs = models.JSONField(default=dict, help_text="the costs every backtest of it uses")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=models.F("end")), name="backtest_comparison_start_before_end"
            ),
        ]

    def __str__(self) -> str:
        return f"comparison {self.pk} {self.symbol} {self.interval}"
