"""API views of copy trading: validate, call a service or a selector, serialize. A follower
sees and changes only their own subscriptions and copy trades (another's id answers 404); the
leaderboard shows public strategies' figures and nothing of anyone's accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters as filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from copytrading import selectors
from copytrading.api.serializers import (
    CopyDriftSerializer,
    CopyTradeSerializer,
    DriftQuerySerializer,
    LeaderSerializer,
    PnlSeriesSerializer,
    StopSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
    SummarySerializer,
    TermsSerializer,
)
from copytrading.domain.terms import InvalidCopyTerms
from copytrading.drift import subscription_drift
from copytrading.models import CopySubscription, CopyTrade, CopyTradeKind
from copytrading.services.amendments import subscription_terms_update
from copytrading.services.subscriptions import (
    subscription_create,
    subscription_pause,
    subscription_resume,
    subscription_stop,
)
from copytrading.statistics import (
    DailyPnl,
    follower_pnl_series,
    follower_summary,
    leader_statistics,
    public_strategies,
)
from copytrading.statistics import subscription_pnl_series as pnl_series_of
from execution.api.access import owned_or_404, request_owner_id
from execution.api.errors import error_responses
from execution.api.filters import IdFilter


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses("Invalid input, refused field by field; nothing changed.", *codes)


def _refused(error: InvalidCopyTerms) -> serializers.ValidationError:
    return serializers.ValidationError(error.errors)


def _series(points: list[DailyPnl]) -> dict[str, Any]:
    return {
        "days": [
            {"day": p.day, "start_equity": p.start_equity, "end_equity": p.end_equity,
             "pnl": p.pnl}
            for p in points
        ]
    }  # fmt: skip


_STOP_DESCRIPTION = (
    "Stop for good. `close`: true closes what the subscription copied (reduce-only market "
    "orders, never more than the account holds); false keeps the positions."
)


@extend_schema_view(
    list=extend_schema(
        summary="Your copy subscriptions, newest first",
        responses={200: SubscriptionSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One of your subscriptions",
        responses={200: SubscriptionSerializer, **_errors(404)},
    ),
    create=extend_schema(
        summary="Copy a public strategy with one of your accounts",
        description="Refused by field, with nothing saved: allocations of the account over "
        "100% in total, negative or zero amounts, your own or a private strategy, an account "
        "that is not yours or not in `account_mode`.",
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionSerializer, **_errors(400)},
    ),
    partial_update=extend_schema(
        summary="Change a subscription's terms",
        description="The same validation as on creation; the terms not given stay.",
        request=TermsSerializer,
        responses={200: SubscriptionSerializer, **_errors(400, 404)},
    ),
    destroy=extend_schema(
        summary="Stop a subscription, keeping its positions",
        description="The same as POST stop with close false; the record stays.",
        responses={204: None, **_errors(400, 404)},
    ),
)
class SubscriptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[CopySubscription]
):
    serializer_class = SubscriptionSerializer
    queryset = CopySubscription.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[CopySubscription]:
        return selectors.subscriptions_for_follower(request_owner_id(self.request)).order_by(
            "-created_at", "-pk"
        )

    def get_object(self) -> CopySubscription:
        found: CopySubscription = owned_or_404(
            self.get_queryset(), str(self.kwargs["pk"]), "subscription"
        )
        return found

    def _answer(self, subscription_id: int, code: int = status.HTTP_200_OK) -> Response:
        row = self.get_queryset().get(pk=subscription_id)
        return Response(SubscriptionSerializer(row).data, code)

    def create(self, request: Request) -> Response:
        form = SubscriptionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            subscription = subscription_create(
                follower_id=request_owner_id(request), account_id=data["account"],
                strategy_id=data["strategy"], account_mode=data["account_mode"],
                terms=form.terms(),
            )  # fmt: skip
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return self._answer(subscription.pk, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        form = TermsSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        try:
            subscription_terms_update(
                subscription_id=subscription.pk, follower_id=request_owner_id(request),
                changes=form.terms(),
            )  # fmt: skip
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return self._answer(subscription.pk)

    def destroy(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        try:
            subscription_stop(
                subscription_id=subscription.pk, follower_id=request_owner_id(request), close=False
            )
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Pause: no new copies, positions stay",
        request=None,
        responses={200: SubscriptionSerializer, **_errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        try:
            subscription_pause(
                subscription_id=subscription.pk, follower_id=request_owner_id(request)
            )
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return self._answer(subscription.pk)

    @extend_schema(
        summary="Resume copying from the next leader fill",
        request=None,
        responses={200: SubscriptionSerializer, **_errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        try:
            subscription_resume(
                subscription_id=subscription.pk, follower_id=request_owner_id(request)
            )
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return self._answer(subscription.pk)

    @extend_schema(
        summary="Stop copying, closing or keeping the copied positions",
        description=_STOP_DESCRIPTION,
        request=StopSerializer,
        responses={200: SubscriptionSerializer, **_errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        form = StopSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            subscription_stop(
                subscription_id=subscription.pk, follower_id=request_owner_id(request),
                close=form.validated_data["close"],
            )  # fmt: skip
        except InvalidCopyTerms as error:
            raise _refused(error) from None
        return self._answer(subscription.pk)

    @extend_schema(
        summary="The copy-drift ledger over a period",
        description="The leader's P&L on the trades copied in [from, to) scaled to the "
        "follower's intended size, against the follower's, and the difference by cause: "
        "slippage, rounding (lot rounding and limits), unfilled, skipped, fees and the "
        "follower's own closes. Every leg is valued at the price at `to`; positions carried "
        "in from before `from` are not in it.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=False),
        ],
        responses={200: CopyDriftSerializer, **_errors(400, 404)},
    )
    @action(detail=True)
    def drift(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        query = DriftQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start: datetime = query.validated_data.get("from", subscription.created_at)
        end: datetime = query.validated_data.get("to", timezone.now())
        if start >= end:
            raise serializers.ValidationError({"from": ["must be before to"]})
        report = subscription_drift(subscription, start=start, end=end)
        ledger = report.ledger
        leader_return, follower_return = ledger.returns(report.capital)
        body = {
            "subscription": subscription.pk, "from": start, "to": end,
            "capital": report.capital, "leader_pnl": ledger.leader_pnl,
            "follower_pnl": ledger.follower_pnl, "difference": ledger.difference,
            "leader_return": leader_return, "follower_return": follower_return,
            "parts": ledger.parts, "residual": ledger.residual, "copies": ledger.copies,
            "skipped": ledger.skipped,
            "latency": {"mean_seconds": ledger.latency_mean, "max_seconds": ledger.latency_max},
            "end_prices": report.end_prices,
        }  # fmt: skip
        return Response(CopyDriftSerializer(body).data)

    @extend_schema(
        summary="The subscription's daily P&L over the last 30 days",
        description="From the daily equity snapshots (start of each UTC day); today's runs to now.",
        responses={200: PnlSeriesSerializer, **_errors(404)},
    )
    @action(detail=True)
    def pnl(self, request: Request, pk: str) -> Response:
        return Response(PnlSeriesSerializer(_series(pnl_series_of(self.get_object()))).data)


class CopyTradeFilter(filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id", help_text="One of your subscriptions.")
    kind = filters.ChoiceFilter(choices=[(k, k) for k in CopyTradeKind.values])

    class Meta:
        model = CopyTrade
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="Your copy trades, newest first",
        description="What each leader fill (or a join or a stop) did for your subscriptions: "
        "the order placed, or why none was.",
        responses={200: CopyTradeSerializer(many=True), **_errors(400)},
    )
)
class CopyTradeViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[CopyTrade]):
    serializer_class = CopyTradeSerializer
    queryset = CopyTrade.objects.none()  # the schema's model; requests use get_queryset
    filterset_class = CopyTradeFilter

    def get_queryset(self) -> QuerySet[CopyTrade]:
        return (
            selectors.copy_trades_for_follower(request_owner_id(self.request))
            .select_related("leader_fill")
            .order_by("-created_at", "-pk")
        )


class SummaryView(APIView):
    @extend_schema(
        summary="Your copy trading: P&L, copies filled, strategies followed, return, orphans",
        description="P&L is what each subscription copied, marked now, net of fees; return is "
        "on the capital given to copying. Orphans: copied holdings the leader no longer backs.",
        responses={200: SummarySerializer, **_errors()},
    )
    def get(self, request: Request) -> Response:
        summary = follower_summary(request_owner_id(request))
        body = {
            "pnl": summary.pnl, "trades": summary.trades,
            "strategies_followed": summary.strategies_followed, "capital": summary.capital,
            "return": summary.return_,
            "subscriptions": [
                {"subscription": f.subscription.pk, "strategy": f.subscription.strategy_id,
                 "status": f.subscription.status, "equity": f.equity, "pnl": f.pnl,
                 "return": f.return_, "trades": f.trades}
                for f in summary.subscriptions
            ],
            "orphans": [o.as_dict() for o in summary.orphans],
        }  # fmt: skip
        return Response(SummarySerializer(body).data)


class PnlSeriesView(APIView):
    @extend_schema(
        summary="Your daily P&L over the last 30 days, over your copying accounts",
        description="From the daily snapshots of each account that copies: the change in "
        "equity less deposits.",
        responses={200: PnlSeriesSerializer, **_errors()},
    )
    def get(self, request: Request) -> Response:
        return Response(
            PnlSeriesSerializer(_series(follower_pnl_series(request_owner_id(request)))).data
        )


@extend_schema_view(
    list=extend_schema(
        summary="Public strategies with their statistics",
        description="ROI, P&L, max drawdown, win rate and Sharpe over 7, 30 and 90 days, the "
        "capital copying each and its followers; most capital copying first. Private "
        "strategies never appear.",
        responses={200: LeaderSerializer(many=True), **_errors(400)},
    )
)
class LeaderboardViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    serializer_class = LeaderSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return public_strategies()

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # the API always paginates
        rows = [
            {
                "strategy": s.strategy.pk, "name": s.strategy.name, "kind": s.strategy.kind,
                "interval": s.strategy.interval, "status": s.strategy.status,
                "capital_copying": s.capital_copying, "follower_count": s.follower_count,
                "windows": [
                    {"days": w.days, "roi": w.roi, "pnl": w.pnl, "max_drawdown": w.max_drawdown,
                     "win_rate": w.win_rate, "sharpe": w.sharpe, "trades": w.trades}
                    for w in s.windows
                ],
            }
            for s in leader_statistics(page)
        ]  # fmt: skip
        return self.get_paginated_response(LeaderSerializer(rows, many=True).data)
