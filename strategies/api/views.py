"""API views of strategies, their signals and backtests: validate, call a service or a
selector, serialize. Everything is the caller's own: another user's strategy, signal or
backtest answers 404 or is not listed."""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer, StaticHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from execution.api.access import owned_or_404, request_owner_id
from execution.api.errors import ERROR_SCHEMA, error_responses
from execution.api.filters import IdFilter
from strategies import selectors
from strategies.api.serializers import (
    BacktestResultSerializer,
    BacktestSerializer,
    BacktestStartSerializer,
    ComparisonSerializer,
    ComparisonStartSerializer,
    SignalSerializer,
    StrategySerializer,
    StrategyWriteSerializer,
)
from strategies.comparison import comparison_report_for, comparison_start
from strategies.kinds import InvalidStrategyConfig
from strategies.models import (
    Backtest,
    BacktestComparison,
    BacktestStatus,
    Signal,
    SignalOutcome,
    SignalSide,
    Strategy,
)
from strategies.report import Report, backtest_report, market_for, run_from_backtest
from strategies.services import (
    backtest_start,
    strategy_create,
    strategy_delete,
    strategy_pause,
    strategy_resume,
    strategy_stop,
    strategy_update,
)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses(
        "Invalid input, refused field by field (config.<key> for the kind's parameters).", *codes
    )


def _refused(error: InvalidStrategyConfig) -> serializers.ValidationError:
    return serializers.ValidationError(error.errors)


# --- strategies ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your strategies, by name",
        responses={200: StrategySerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One of your strategies", responses={200: StrategySerializer, **_errors(404)}
    ),
    create=extend_schema(
        summary="Create a strategy (paused)",
        description="The config is checked against the kind's: unknown keys, wrong types and "
        "values out of range are each refused under `config.<key>`, and nothing is saved. A "
        "preset (conservative, aggressive, high_frequency) sets the signal settings; values "
        "given explicitly win over it. Kinds that need a model need `model_version`, trained "
        "on one of the instruments at the same interval.",
        request=StrategyWriteSerializer,
        responses={201: StrategySerializer, **_errors(400)},
    ),
    partial_update=extend_schema(
        summary="Change a strategy",
        description="A new config replaces the old one (defaults and the preset fill the "
        "rest); a new preset replaces the settings not given in the same request.",
        request=StrategyWriteSerializer,
        responses={200: StrategySerializer, **_errors(400, 404)},
    ),
    destroy=extend_schema(
        summary="Delete a strategy that never signalled",
        description="One with signals on record is refused (400): stop it instead.",
        responses={204: None, **_errors(400, 404)},
    ),
)
class StrategyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Strategy]
):
    serializer_class = StrategySerializer
    queryset = Strategy.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[Strategy]:
        return selectors.strategies_for_owner(request_owner_id(self.request))

    def get_object(self) -> Strategy:
        strategy: Strategy = owned_or_404(self.get_queryset(), str(self.kwargs["pk"]), "strategy")
        return strategy

    def _answer(self, strategy_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(StrategySerializer(self.get_queryset().get(pk=strategy_id)).data, code)

    def create(self, request: Request) -> Response:
        form = StrategyWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            strategy = strategy_create(owner_id=request_owner_id(request), **form.arguments())
        except InvalidStrategyConfig as error:
            raise _refused(error) from None
        return self._answer(strategy.pk, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        form = StrategyWriteSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        try:
            strategy_update(
                strategy_id=strategy.pk,
                owner_id=request_owner_id(request),
                changes=form.arguments(),
            )
        except InvalidStrategyConfig as error:
            raise _refused(error) from None
        return self._answer(strategy.pk)

    def destroy(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        strategy_delete(strategy_id=strategy.pk, owner_id=request_owner_id(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Pause a strategy",
        description="It emits nothing until resumed. A stopped strategy is refused (400).",
        request=None,
        responses={200: StrategySerializer, **_errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        strategy_pause(strategy_id=strategy.pk, owner_id=request_owner_id(request))
        return self._answer(strategy.pk)

    @extend_schema(
        summary="Resume (activate) a strategy",
        description="Its signals go to its account. A stopped strategy is refused (400).",
        request=None,
        responses={200: StrategySerializer, **_errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        strategy_resume(strategy_id=strategy.pk, owner_id=request_owner_id(request))
        return self._answer(strategy.pk)

    @extend_schema(
        summary="Stop a strategy for good",
        description="Its record and signals stay; clone it (admin) to run it again.",
        request=None,
        responses={200: StrategySerializer, **_errors(404)},
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        strategy_stop(strategy_id=strategy.pk, owner_id=request_owner_id(request))
        return self._answer(strategy.pk)


# --- signals ------------------------------------------------------------------------------------


class SignalFilter(filters.FilterSet):
    strategy = IdFilter(field_name="strategy_id", help_text="One of your strategies.")
    symbol = filters.CharFilter(field_name="instrument__symbol")
    side = filters.ChoiceFilter(choices=[(s, s) for s in SignalSide.values])
    outcome = filters.MultipleChoiceFilter(
        choices=[(o, o) for o in SignalOutcome.values],
        help_text="Repeat for several: outcome=pending&outcome=executed.",
    )
    at = filters.IsoDateTimeFromToRangeFilter(
        help_text="at_after and at_before: ISO 8601 times, both inclusive."
    )

    class Meta:
        model = Signal
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="Your strategies' signals, newest first",
        description="Read-only: what each strategy decided and what became of it (pending, "
        "executed with its parent order, skipped, refused or expired).",
        responses={200: SignalSerializer(many=True), **_errors(400)},
    )
)
class SignalViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Signal]):
    serializer_class = SignalSerializer
    queryset = Signal.objects.none()  # the schema's model; requests use get_queryset
    filterset_class = SignalFilter

    def get_queryset(self) -> QuerySet[Signal]:
        return selectors.signals_for_owner(request_owner_id(self.request))


# --- reports -------------------------------------------------------------------------------------


REPORT_RENDERERS = [StaticHTMLRenderer, JSONRenderer]  # HTML unless ?format=json


class NoResultYet(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "no_result_yet"


_REPORT_SCHEMA: dict[str, Any] = {
    "summary": "The Plotly report: price with trades, equity, drawdown and every metric",
    "description": "A standalone HTML page by default (Plotly.js served by this site, no "
    "CDN); `?format=json` gives the figure as Plotly JSON with the metrics table and notes. "
    "409 until it has succeeded.",
    "parameters": [
        OpenApiParameter("format", str, enum=["html", "json"], required=False),
    ],
    "responses": {
        (200, "text/html"): OpenApiTypes.STR,
        (200, "application/json"): OpenApiTypes.OBJECT,
        409: OpenApiResponse(ERROR_SCHEMA, description="Not finished (or failed)."),
        **_errors(404),
    },
}


def _report_response(request: Request, report: Report) -> Response:
    if request.accepted_renderer.format == "json":
        return Response(report.to_json())
    return Response(report.html(reverse("plotly-js")))


# --- backtests ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your backtests, newest first",
        responses={200: BacktestSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One backtest: its status and progress",
        responses={200: BacktestSerializer, **_errors(404)},
    ),
    create=extend_schema(
        summary="Start a backtest",
        description="Of one of your strategies (its kind, config, first instrument and "
        "interval unless given) or of a kind and config, over the stored candles of a symbol "
        "and interval (between start and end when given). Costs are always on: fee_rate and "
        "slippage_bps must be above zero. Queued for a worker (run at once without one); "
        "follow it with GET backtests/{id}/, read it at backtests/{id}/result/.",
        request=BacktestStartSerializer,
        responses={201: BacktestSerializer, **_errors(400)},
    ),
)
class BacktestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Backtest]
):
    serializer_class = BacktestSerializer
    queryset = Backtest.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[Backtest]:
        return selectors.backtests_for_owner(request_owner_id(self.request))

    def get_object(self) -> Backtest:
        backtest: Backtest = owned_or_404(self.get_queryset(), str(self.kwargs["pk"]), "backtest")
        return backtest

    def create(self, request: Request) -> Response:
        form = BacktestStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            backtest = backtest_start(owner_id=request_owner_id(request), **form.arguments())
        except InvalidStrategyConfig as error:
            raise _refused(error) from None
        backtest = self.get_queryset().get(pk=backtest.pk)  # eager tasks may have run it
        return Response(BacktestSerializer(backtest).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A backtest's result: metrics, costs, equity curve and trades",
        description="Metrics are empty until it has succeeded.",
        responses={200: BacktestResultSerializer, **_errors(404)},
    )
    @action(detail=True)
    def result(self, request: Request, pk: str) -> Response:
        return Response(BacktestResultSerializer(self.get_object()).data)

    @extend_schema(**_REPORT_SCHEMA)
    @action(detail=True, renderer_classes=REPORT_RENDERERS)
    def report(self, request: Request, pk: str) -> Response:
        backtest = self.get_object()
        if backtest.status != BacktestStatus.SUCCEEDED:
            raise NoResultYet(f"backtest {backtest.pk} is {backtest.status}: no report yet")
        run = run_from_backtest(backtest)
        return _report_response(request, backtest_report(run, market_for(run)))


# --- comparisons ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your comparison runs, newest first",
        responses={200: ComparisonSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One comparison run: its backtests' status and progress",
        responses={200: ComparisonSerializer, **_errors(404)},
    ),
    create=extend_schema(
        summary="Start a comparison run",
        description="Backtests each run (default: the ML strategies, mean reversion and buy "
        "and hold) over exactly the same stored bars of the symbol and interval (the window "
        "is pinned to the bars stored now) with the same costs, one backtest per run, "
        "queued for workers. Anything refused is named by field (`runs.<n>.config.<key>`, "
        "`costs.<key>`, `start` for a window without bars) and nothing is saved. Read the "
        "side-by-side report at comparisons/{id}/report/ once every backtest has succeeded.",
        request=ComparisonStartSerializer,
        responses={201: ComparisonSerializer, **_errors(400)},
    ),
)
class ComparisonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[BacktestComparison]
):
    serializer_class = ComparisonSerializer
    queryset = BacktestComparison.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[BacktestComparison]:
        return selectors.comparisons_for_owner(request_owner_id(self.request))

    def get_object(self) -> BacktestComparison:
        found: BacktestComparison = owned_or_404(
            self.get_queryset(), str(self.kwargs["pk"]), "comparison"
        )
        return found

    def create(self, request: Request) -> Response:
        form = ComparisonStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            comparison = comparison_start(owner_id=request_owner_id(request), **form.arguments())
        except InvalidStrategyConfig as error:
            raise _refused(error) from None
        comparison = self.get_queryset().get(pk=comparison.pk)  # eager tasks may have run it
        return Response(ComparisonSerializer(comparison).data, status=status.HTTP_201_CREATED)

    @extend_schema(**_REPORT_SCHEMA)
    @action(detail=True, renderer_classes=REPORT_RENDERERS)
    def report(self, request: Request, pk: str) -> Response:
        comparison = self.get_object()
        try:
            report = comparison_report_for(comparison)
        except InvalidStrategyConfig as error:
            raise NoResultYet("; ".join(error.errors["comparison"])) from None
        return _report_response(request, report)
