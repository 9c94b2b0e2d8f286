"""Circuit breakers in the API: their state, their transitions and the kill switch.

Market-wide halts are public market facts (every user sees every instrument's); an account's
breakers, its breaker events and its kill switch are its owner's alone.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import selectors
from execution.api.access import query_params, request_actor, request_owner_id
from execution.api.filters import BIGINT_MAX, IdFilter, SymbolFilter
from execution.api.serializers import AccountQuerySerializer, AmountField, StrictFieldsMixin
from execution.api.views import _errors, owned_account
from execution.domain.breakers import BreakerEventKind
from execution.domain.errors import DomainError
from execution.models import ExecutionEvent
from execution.services.breakers import account_kill_switch_set

# --- serializers --------------------------------------------------------------------------------


class InstrumentHaltSerializer(serializers.Serializer[Any]):
    symbol = serializers.CharField()
    halted = serializers.BooleanField(
        help_text="New orders that add risk are refused; orders that reduce a position pass."
    )
    halted_since = serializers.DateTimeField(allow_null=True)
    unstable_since = serializers.DateTimeField(
        allow_null=True,
        help_text="Spread stability above the halt threshold since then (a halt follows after "
        "halt_after seconds of it).",
    )
    spread_stability = serializers.FloatField(
        allow_null=True, help_text="The latest spread_stability_norm_100, 0 (stable) to 1."
    )
    observed_at = serializers.DateTimeField(allow_null=True)


class KillSwitchSerializer(serializers.Serializer[Any]):
    on = serializers.BooleanField()
    automatic = serializers.BooleanField(help_text="Turned on by the daily loss limit.")
    reason = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)


class SizeReductionSerializer(serializers.Serializer[Any]):
    symbol = serializers.CharField()
    size_factor = AmountField(help_text="Applied to signal sizes on this instrument now.")
    reduced_until = serializers.DateTimeField(allow_null=True)
    urgent_signals = serializers.IntegerField(help_text="Urgent signals in the counting window.")


class AccountBreakersSerializer(serializers.Serializer[Any]):
    account = serializers.IntegerField(source="account.pk")
    account_name = serializers.CharField(source="account.name")
    kill_switch = KillSwitchSerializer()
    overrides_used = serializers.IntegerField(help_text="Urgency overrides granted in the window.")
    overrides_allowed = serializers.IntegerField()
    override_window_seconds = serializers.SerializerMethodField()
    reductions = SizeReductionSerializer(many=True)

    def get_override_window_seconds(self, view: selectors.AccountBreakersView) -> float:
        return view.override_window.total_seconds()


class BreakersSerializer(serializers.Serializer[Any]):
    instruments = InstrumentHaltSerializer(many=True)
    accounts = AccountBreakersSerializer(many=True)
    config = serializers.DictField(help_text="The breakers' thresholds (durations in seconds).")


class BreakerEventSerializer(serializers.ModelSerializer[ExecutionEvent]):
    at = serializers.DateTimeField(source="created_at")
    breaker = serializers.SerializerMethodField(help_text="halt, resume, reduce, kill_on, ...")
    instrument = serializers.SerializerMethodField()
    happened_at = serializers.SerializerMethodField(
        help_text="When the transition came due (a halt noticed late is dated when it came due)."
    )

    class Meta:
        model = ExecutionEvent
        fields = ["id", "at", "breaker", "account", "instrument", "message", "actor", "happened_at"]

    def get_breaker(self, event: ExecutionEvent) -> str:
        return str(event.data.get("kind", ""))

    def get_instrument(self, event: ExecutionEvent) -> str | None:
        if event.instrument is not None:
            return event.instrument.symbol
        symbol = event.data.get("instrument")
        return None if symbol is None else str(symbol)

    def get_happened_at(self, event: ExecutionEvent) -> str | None:
        at = event.data.get("at")
        return None if at is None else str(at)


class KillSwitchSetSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    on = serializers.BooleanField(help_text="true stops new risk; false lets it through again.")
    reason = serializers.CharField(
        max_length=500, help_text="Why: it goes to the audit trail with your name."
    )


# --- filters ------------------------------------------------------------------------------------


class BreakerEventFilter(filters.FilterSet):
    account = IdFilter(field_name="account_id", help_text="One of your account ids.")
    symbol = SymbolFilter(field_name="instrument__symbol", help_text="Instrument, e.g. BTC-USDT.")
    breaker = filters.ChoiceFilter(
        field_name="data__kind",
        choices=[(kind.value, kind.value) for kind in BreakerEventKind],
        help_text="One kind of transition.",
    )
    created = filters.DateFromToRangeFilter(
        field_name="created_at",
        help_text="created_after and created_before: UTC dates, both inclusive.",
    )

    class Meta:
        model = ExecutionEvent
        fields: list[str] = []


# --- views --------------------------------------------------------------------------------------


class BreakersView(APIView):
    @extend_schema(
        summary="Circuit breakers now",
        description="Every instrument's market-wide halt (spread stability above the threshold "
        "for long enough halts new risk on it for everyone), and your accounts' breakers (or "
        "`account`'s): the kill switch, urgency overrides used in the window, and size "
        "reductions after bursts of urgent signals.",
        parameters=[AccountQuerySerializer],
        responses={200: BreakersSerializer, **_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        account = owned_account(
            request, query_params(AccountQuerySerializer, request).get("account")
        )
        overview = {
            "instruments": selectors.instrument_halts(),
            "accounts": selectors.account_breakers_for_owner(
                request_owner_id(request), account_id=None if account is None else account.pk
            ),
            "config": selectors.breaker_config().to_dict(),
        }
        return Response(BreakersSerializer(overview).data)


@extend_schema(
    summary="Circuit breaker transitions, newest first",
    description="Halts, resumes, size reductions and their end, urgency overrides granted or "
    "refused, the kill switch on and off: your accounts' and the instruments' market-wide ones.",
    responses={200: BreakerEventSerializer(many=True), **_errors(400)},
)
class BreakerEventListView(generics.ListAPIView[ExecutionEvent]):
    serializer_class = BreakerEventSerializer
    filterset_class = BreakerEventFilter

    def get_queryset(self) -> QuerySet[ExecutionEvent]:
        if getattr(self, "swagger_fake_view", False):
            return ExecutionEvent.objects.none()
        return selectors.breaker_events_for_owner(request_owner_id(self.request)).order_by(
            "-created_at", "-pk"
        )


class KillSwitchView(APIView):
    @extend_schema(
        summary="Turn an account's kill switch on or off",
        description="While on, the account's new orders that add risk are refused, whatever "
        "places them (the API, signals, algorithms); orders that reduce a position pass. The "
        "daily loss limit turns it on by itself. Answers with the account's breakers.",
        request=KillSwitchSetSerializer,
        responses={200: AccountBreakersSerializer, **_errors(400, 404)},
    )
    def post(self, request: Request, pk: str) -> Response:
        if not pk.isascii() or not pk.isdigit() or int(pk) > BIGINT_MAX:
            raise Http404(f"account {pk} is not one of your accounts.")
        account = owned_account(request, int(pk))
        assert account is not None
        form = KillSwitchSetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            account_kill_switch_set(
                account_id=account.pk,
                on=form.validated_data["on"],
                reason=form.validated_data["reason"],
                actor=request_actor(request),
            )
        except DomainError as error:
            raise serializers.ValidationError({"reason": [str(error)]}) from None
        (view,) = selectors.account_breakers_for_owner(
            request_owner_id(request), account_id=account.pk
        )
        return Response(AccountBreakersSerializer(view).data)
