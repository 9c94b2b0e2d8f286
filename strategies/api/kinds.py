"""The catalogue a client needs before it writes a strategy or a backtest: each kind with its
config schema and defaults, the strategy settings and the presets, and the backtest costs.
Read-only and the same for every signed-in user."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strategies.costs import BacktestCosts
from strategies.kinds import KINDS
from strategies.presets import ALL_PRESETS, StrategySettings


class KindSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    needs_model = serializers.BooleanField(
        help_text="A strategy of this kind must name a model version."
    )
    config_schema = serializers.DictField(help_text="JSON Schema of the kind's config.")
    defaults = serializers.DictField(help_text="The config a strategy gets for keys left out.")


class CatalogueSerializer(serializers.Serializer[Any]):
    kinds = KindSerializer(many=True)
    settings_schema = serializers.DictField(
        help_text="JSON Schema of the settings every strategy has beside its kind's config."
    )
    presets = serializers.DictField(
        child=serializers.DictField(),
        help_text="Each preset's values; explicit settings win over them.",
    )
    backtest_costs_schema = serializers.DictField(
        help_text="JSON Schema of a backtest's costs (always on) and account."
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: str(value) if not isinstance(value, int | float) else value
        for key, value in values.items()
    }


def catalogue() -> dict[str, Any]:
    return {
        "kinds": [
            {
                "name": name,
                "needs_model": kind.needs_model,
                "config_schema": kind.schema(),
                "defaults": kind.defaults(),
            }
            for name, kind in sorted(KINDS.items())
        ],
        "settings_schema": StrategySettings.schema(),
        "presets": {name: _plain(values) for name, values in sorted(ALL_PRESETS.items())},
        "backtest_costs_schema": BacktestCosts.schema(),
    }


class KindCatalogueView(APIView):
    @extend_schema(
        operation_id="strategies_kinds",
        summary="Strategy kinds, their config schemas and defaults, presets and backtest costs",
        responses={200: CatalogueSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(catalogue())
