"""Serializers of the strategies API: shapes of requests and answers only; validation of
configs, presets and costs is the services' (strategies.kinds, presets, costs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from execution.api.filters import BIGINT_MAX
from execution.api.serializers import StrictFieldsMixin
from mlmodels.api.serializers import openapi_schema
from strategies.comparison import comparison_state
from strategies.costs import BacktestCosts
from strategies.kinds import KINDS
from strategies.models import (
    Backtest,
    BacktestComparison,
    BacktestData,
    BacktestStatus,
    PresetChoice,
    Signal,
    SignalOutcome,
    SignalSide,
    Strategy,
    StrategyStatus,
    Visibility,
)
from strategies.presets import StrategySettings

KIND_NAMES = sorted(KINDS)
SETTINGS = StrategySettings.names()


@extend_schema_field(
    {
        "type": "object",
        "description": "The kind's parameters; missing ones take their defaults (or the "
        "preset's). The schema of each kind: " + ", ".join(KIND_NAMES),
        "additionalProperties": True,
    }
)
class ConfigField(serializers.DictField):
    pass


@extend_schema_field(openapi_schema(BacktestCosts.schema()))
class CostsField(serializers.DictField):
    pass


class StrategySerializer(serializers.ModelSerializer[Strategy]):
    status = serializers.ChoiceField(choices=StrategyStatus.values, read_only=True)
    visibility = serializers.ChoiceField(choices=Visibility.values, read_only=True)
    preset = serializers.CharField(read_only=True, help_text="Blank for none.")
    instruments: Any = serializers.SlugRelatedField(slug_field="symbol", many=True, read_only=True)
    config = serializers.DictField(read_only=True)

    class Meta:
        model = Strategy
        fields = [
            "id", "name", "kind", "status", "visibility", "account", "instruments", "interval",
            "config", "preset", "model_version", *SETTINGS, "created_at", "updated_at",
            "activated_at", "paused_at", "stopped_at",
        ]  # fmt: skip
        read_only_fields = fields


MAX_INSTRUMENTS = 100  # a request listing more is refused, not deduplicated at length


class StrategyWriteSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=KIND_NAMES)
    account = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    instruments = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=MAX_INSTRUMENTS,
        help_text=f"Symbols (1 to {MAX_INSTRUMENTS}).",
    )
    interval = serializers.CharField(max_length=4, help_text="e.g. 15m, 1h, 1d.")
    config = ConfigField(required=False, default=dict)
    preset = serializers.ChoiceField(
        choices=PresetChoice.values, required=False, allow_null=True, default=None
    )
    model_version = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, allow_null=True, default=None,
        help_text="Required by kinds that need a model (xgboost).",
    )  # fmt: skip
    visibility = serializers.ChoiceField(choices=Visibility.values, default=Visibility.PRIVATE)
    confidence_threshold = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    max_position_size = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    min_liquidity_score = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    stop_loss_base = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    take_profit_base = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    max_signals_per_minute = serializers.IntegerField(required=False, min_value=0, max_value=10**6)
    signal_decay_seconds = serializers.IntegerField(required=False, min_value=0, max_value=10**9)

    def arguments(self) -> dict[str, Any]:
        """The service's keyword arguments for the fields sent (all of them on create)."""
        data = dict(self.validated_data)
        renamed = {"account": "account_id", "instruments": "symbols"}
        renamed["model_version"] = "model_version_id"
        settings = {key: data.pop(key) for key in SETTINGS if key in data}
        arguments = {renamed.get(str(key), str(key)): value for key, value in data.items()}
        if settings or not self.partial:
            arguments["settings"] = settings
        return arguments


class SignalSerializer(serializers.ModelSerializer[Signal]):
    side = serializers.ChoiceField(choices=SignalSide.values, read_only=True)
    outcome = serializers.ChoiceField(choices=SignalOutcome.values, read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = Signal
        fields = [
            "id", "strategy", "symbol", "at", "side", "target_position", "strength",
            "confidence", "price", "size", "stop_loss", "take_profit", "metadata", "outcome",
            "outcome_detail", "parent_order", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class BacktestSerializer(serializers.ModelSerializer[Backtest]):
    status = serializers.ChoiceField(choices=BacktestStatus.values, read_only=True)
    config = serializers.DictField(read_only=True)
    costs = serializers.DictField(read_only=True)
    # DRF's metaclass takes declared fields out of the class: ``.data`` stays the property.
    data = serializers.ChoiceField(choices=BacktestData.values, read_only=True)  # type: ignore[assignment]
    execution = serializers.DictField(read_only=True)

    class Meta:
        model = Backtest
        fields = [
            "id", "strategy", "kind", "config", "symbol", "interval", "start", "end", "costs",
            "data", "execution", "model_version", "status", "progress", "message", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {"progress": {"help_text": "0 to 1."}}


class BacktestResultSerializer(BacktestSerializer):
    metrics = serializers.DictField(
        read_only=True,
        help_text="Return, drawdown, Sharpe, Sortino, win rate, profit factor, trades, and the "
        "costs paid: total_fees, total_slippage_cost, total_costs.",
    )
    equity_curve = serializers.ListField(
        child=serializers.ListField(), read_only=True, help_text="[time, equity], at most 1000."
    )
    trades = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta(BacktestSerializer.Meta):
        fields = [*BacktestSerializer.Meta.fields, "metrics", "equity_curve", "trades"]
        read_only_fields = fields


class BacktestStartSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    strategy = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, allow_null=True, default=None,
        help_text="One of your strategies; or give kind (and config) instead.",
    )  # fmt: skip
    kind = serializers.ChoiceField(choices=KIND_NAMES, required=False, allow_null=True)
    config = ConfigField(required=False, allow_null=True)
    symbol = serializers.CharField(max_length=40, required=False, allow_null=True)
    interval = serializers.CharField(max_length=4, required=False, allow_null=True)
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)
    costs = CostsField(required=False, default=dict)
    data = serializers.ChoiceField(  # type: ignore[assignment]
        choices=BacktestData.values, default=BacktestData.CANDLES,
        help_text="Stored candles, or stored L2 books and trades of the window.",
    )  # fmt: skip
    execution = serializers.DictField(
        required=False, default=dict,
        help_text="L2 only: algorithm (market, limit, twap, ... or auto), algorithm_params, "
        "maker_fee_rate, latency_ms, latency_jitter_ms, seed, signal_strength.",
    )  # fmt: skip

    def arguments(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data["strategy_id"] = data.pop("strategy")
        return data


# --- comparisons --------------------------------------------------------------------------------


class ComparisonRunSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=KIND_NAMES)
    config = ConfigField(required=False, default=dict)

    def to_internal_value(self, data: Any) -> Any:
        # StrictFieldsMixin reads initial_data, which a nested serializer has not.
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        return super().to_internal_value(data)


class ComparisonStartSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    symbol = serializers.CharField(max_length=40)
    interval = serializers.CharField(max_length=4, help_text="e.g. 15m, 1h, 1d.")
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    costs = CostsField(required=False, default=dict)
    runs = ComparisonRunSerializer(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        help_text="The strategies to compare (1 to 8); default: the ML strategies, mean "
        "reversion and buy and hold.",
    )

    def validate_runs(self, runs: list[Any] | None) -> list[Any] | None:
        # allow_null lets the list be null, and DRF passes it to each run too: refuse those.
        if runs is not None and any(run is None for run in runs):
            raise serializers.ValidationError("each run is an object: a kind and its config")
        return runs

    def arguments(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if data["runs"] is not None:
            data["runs"] = [dict(run) for run in data["runs"]]
        return data


class ComparisonBacktestSerializer(serializers.ModelSerializer[Backtest]):
    status = serializers.ChoiceField(choices=BacktestStatus.values, read_only=True)
    config = serializers.DictField(read_only=True)

    class Meta:
        model = Backtest
        fields = ["id", "kind", "config", "status", "progress", "message", "error"]
        read_only_fields = fields


class ComparisonSerializer(serializers.ModelSerializer[BacktestComparison]):
    costs = serializers.DictField(read_only=True)
    status = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(help_text="0 to 1, over all its backtests.")
    message = serializers.SerializerMethodField()
    backtests = serializers.SerializerMethodField(help_text="One per run, in the runs' order.")

    class Meta:
        model = BacktestComparison
        fields = [
            "id", "symbol", "interval", "start", "end", "costs", "status", "progress",
            "message", "backtests", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=BacktestStatus.values))
    def get_status(self, comparison: BacktestComparison) -> str:
        return comparison_state(comparison).status

    def get_progress(self, comparison: BacktestComparison) -> float:
        return comparison_state(comparison).progress

    def get_message(self, comparison: BacktestComparison) -> str:
        return comparison_state(comparison).message

    @extend_schema_field(ComparisonBacktestSerializer(many=True))
    def get_backtests(self, comparison: BacktestComparison) -> Any:
        return ComparisonBacktestSerializer(comparison.backtests.order_by("pk"), many=True).data
