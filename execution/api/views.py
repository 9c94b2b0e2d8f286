"""API views: validate with a serializer, call a service or a selector, serialize the result.

Every read goes through a selector scoped to the caller (``..._for_owner(owner_id)``, the id
from ``execution.api.access.request_owner_id``): another user's order, position, trade or
account is simply not there (404 or an empty list).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import selectors
from execution.api.access import query_params, request_actor, request_owner_id
from execution.api.errors import error_responses, violation_field
from execution.api.filters import OrderFilter, ParentOrderFilter, PositionFilter, TradeFilter
from execution.api.serializers import (
    AccountQuerySerializer,
    AccountSerializer,
    ExecutionQualityQuerySerializer,
    ExecutionQualityReportSerializer,
    OrderAmendSerializer,
    OrderPlaceSerializer,
    OrderSerializer,
    ParentOrderDetailSerializer,
    ParentOrderPlaceSerializer,
    ParentOrderSerializer,
    PerformanceQuerySerializer,
    PerformanceSerializer,
    PositionSerializer,
    PositionsSyncResultSerializer,
    PositionsSyncSerializer,
    StatisticsSerializer,
    TradeSerializer,
)
from execution.domain.algos import InvalidAlgoConfig
from execution.domain.errors import DomainError, RuleViolation
from execution.models import Account, Fill, Order, ParentOrder, Position
from execution.services.algos import parent_order_cancel, parent_order_place
from execution.services.orders import order_amend, order_cancel, order_place, order_reconcile


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses("Invalid input, or refused by the trading rules.", *codes)


def owned_account(request: Request, account_id: int | None) -> Account | None:
    """The caller's account with that id (None for no id); anyone else's is not found."""
    if account_id is None:
        return None
    account = selectors.accounts_for_owner(request_owner_id(request)).filter(pk=account_id).first()
    if account is None:
        raise Http404(f"account {account_id} is not one of your accounts.")
    return account


# --- orders -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your orders, newest first",
        responses={200: OrderSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One of your orders", responses={200: OrderSerializer, **_errors(404)}
    ),
)
class OrderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Order]
):
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Order.objects.none()
        owner_id = request_owner_id(self.request)
        if self.action == "active":
            orders = selectors.open_orders_for_owner(owner_id)
        else:
            orders = selectors.orders_for_owner(owner_id)
        return orders.order_by("-created_at", "-pk")

    def _current(self, order: Order) -> Response:
        # Re-read: the order may have moved on (sent, filled) while it was being placed.
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(
        summary="Place an order",
        description=(
            "Checks the instrument's rules (tick, lot, minimum quantity and notional) and every "
            "pre-trade risk limit, saves the order and sends it to the account's venue. 201 with "
            "the new order; 200 with the existing order when `client_order_id` was already used "
            "for the same terms (a safe retry); 400 when it was used for different terms. 422 "
            "when risk refuses the order, with every failed check in `violations`."
        ),
        request=OrderPlaceSerializer,
        examples=[
            OpenApiExample(
                "Limit buy",
                request_only=True,
                value={
                    "symbol": "BTC-USDT",
                    "side": "buy",
                    "order_type": "limit",
                    "quantity": "0.01",
                    "price": "64000",
                    "client_order_id": "mybuy0001",
                },
            ),
            OpenApiExample(
                "Market sell from a chosen account",
                request_only=True,
                value={
                    "account": 1,
                    "symbol": "ETH-USDT",
                    "side": "sell",
                    "order_type": "market",
                    "quantity": "0.5",
                },
            ),
            OpenApiExample(
                "Stop-limit, reduce only",
                request_only=True,
                value={
                    "symbol": "BTC-USDT",
                    "side": "sell",
                    "order_type": "stop_limit",
                    "quantity": "0.01",
                    "stop_price": "62000",
                    "price": "61900",
                    "reduce_only": True,
                },
            ),
        ],
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, description="A retry: the existing order."),
            **_errors(400, 422),
        },
    )
    def create(self, request: Request) -> Response:
        form = OrderPlaceSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        client_order_id = data.get("client_order_id")
        retry = (
            client_order_id is not None
            and selectors.orders_for_owner(request_owner_id(request))
            .filter(client_order_id=client_order_id)
            .exists()
        )
        order = order_place(
            account_id=data["account"].pk,
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["order_type"],
            quantity=data["quantity"],
            price=data.get("price"),
            stop_price=data.get("stop_price"),
            time_in_force=data["time_in_force"],
            reduce_only=data["reduce_only"],
            client_order_id=client_order_id,
            actor=request_actor(request),
        )
        response = self._current(order)
        response.status_code = status.HTTP_200_OK if retry else status.HTTP_201_CREATED
        return response

    @extend_schema(
        summary="Amend an open order",
        description="A new quantity and/or limit price, checked like a new order (instrument "
        "rules and risk). The new quantity must stay above what is already filled.",
        request=OrderAmendSerializer,
        responses={200: OrderSerializer, **_errors(400, 404, 422)},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        order = self.get_object()
        form = OrderAmendSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        order = order_amend(order_id=order.pk, actor=request_actor(request), **form.validated_data)
        return self._current(order)

    @extend_schema(
        summary="Cancel an open order",
        description="Answers 200 with the order as it stands after the venue's answer (it may "
        "have filled meanwhile), not 204.",
        responses={200: OrderSerializer, **_errors(400, 404)},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        order = order_cancel(order_id=self.get_object().pk, actor=request_actor(request))
        return self._current(order)

    @extend_schema(
        summary="Your open orders",
        description="Orders that can still fill: new, submitted, partially filled or unknown.",
        responses={200: OrderSerializer(many=True), **_errors(400)},
    )
    @action(detail=False)
    def active(self, request: Request) -> Response:
        return self.list(request)


# --- parent orders (execution algorithms) -------------------------------------------------------

PARENT_ORDER_DESCRIPTION = """
An execution algorithm working a quantity through child orders: `market`, `limit` (with a
timeout), `twap`, `vwap`, `iceberg` or `pov`. Its first children may go out at once; the
scheduler sends the rest. Every child is an order of yours (see `orders/`), checked by the
instrument's rules and pre-trade risk like any other: a refused child stops the parent.

The detail adds the children and the **execution quality**: the average fill price, slippage
against the arrival mid (the mid of the book when the parent was placed; positive is worse,
buys and sells alike), the fill rate, fees, and the implementation shortfall: the execution
cost against the arrival mid, plus fees, plus the unfilled part marked at the latest mid seen
(`execution.domain.quality` has the formulas). It is compared with one market order for the
whole quantity walking the book stored at placement (its best 50 levels a side), charged the
taker fee: `baseline`, and `improvement_bps`, the baseline's cost less the shortfall (positive:
better than immediate market execution). Signal-to-fill times count from `signal_at`, the
signal's arrival, or from `created_at` for a parent placed directly (`signal_at` null).
"""


@extend_schema_view(
    list=extend_schema(
        summary="Your parent orders, newest first",
        description=PARENT_ORDER_DESCRIPTION,
        responses={200: ParentOrderSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One of your parent orders, with its children and execution quality",
        responses={200: ParentOrderDetailSerializer, **_errors(404)},
    ),
)
class ParentOrderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ParentOrder]
):
    filterset_class = ParentOrderFilter

    def get_serializer_class(self) -> type[ParentOrderSerializer]:
        return ParentOrderSerializer if self.action == "list" else ParentOrderDetailSerializer

    def get_queryset(self) -> QuerySet[ParentOrder]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ParentOrder.objects.none()
        return selectors.parent_orders_for_owner(request_owner_id(self.request)).order_by(
            "-created_at", "-pk"
        )

    def _current(self, parent: ParentOrder) -> Response:
        return Response(ParentOrderDetailSerializer(self.get_queryset().get(pk=parent.pk)).data)

    @extend_schema(
        summary="Start an execution algorithm",
        description="201 with the new parent order and the children it sent at once. 400 for "
        "bad input, naming the field; a bad algorithm parameter is named `params.<name>`. "
        "Nothing is written when the request is refused.",
        request=ParentOrderPlaceSerializer,
        examples=[
            OpenApiExample(
                "TWAP over ten minutes in five slices",
                request_only=True,
                value={
                    "symbol": "BTC-USDT",
                    "side": "buy",
                    "quantity": "0.5",
                    "algorithm": "twap",
                    "params": {"duration": 600, "num_slices": 5},
                },
            ),
        ],
        responses={201: ParentOrderDetailSerializer, **_errors(400)},
    )
    def create(self, request: Request) -> Response:
        form = ParentOrderPlaceSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            parent = parent_order_place(
                account_id=data["account"].pk,
                symbol=data["symbol"],
                side=data["side"],
                quantity=data["quantity"],
                algorithm=data["algorithm"],
                params=data["params"],
                strategy_id=data.get("strategy_id"),
                actor=request_actor(request),
            )
        except InvalidAlgoConfig as error:
            if error.field == "kind":
                raise serializers.ValidationError({"algorithm": [str(error)]}) from None
            raise serializers.ValidationError({"params": {error.field: [str(error)]}}) from None
        except RuleViolation as error:
            # A price given in the parameters (limit) broke the tick: it is a parameter here.
            if violation_field(error) != "price":
                raise
            raise serializers.ValidationError({"params": {"price": [error.message]}}) from None
        response = self._current(parent)
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(
        summary="Cancel a parent order",
        description="Cancels its working children and sends nothing more; 200 with the parent "
        "as it stands afterwards (a child may have filled meanwhile). A parent that is over "
        "already is answered as it is; 400 when the venue refuses a child's cancel.",
        responses={200: ParentOrderDetailSerializer, **_errors(400, 404)},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        parent = parent_order_cancel(parent_id=self.get_object().pk, actor=request_actor(request))
        return self._current(parent)


# --- positions ----------------------------------------------------------------------------------


@extend_schema(
    summary="Your positions",
    description="One per account and instrument traded, flat ones included (they keep the "
    "realized P&L); `open=true` for the others only.",
    responses={200: PositionSerializer(many=True), **_errors(400)},
)
class PositionListView(generics.ListAPIView[Position]):
    serializer_class = PositionSerializer
    filterset_class = PositionFilter

    def get_queryset(self) -> QuerySet[Position]:
        if getattr(self, "swagger_fake_view", False):
            return Position.objects.none()
        return selectors.positions_for_owner(request_owner_id(self.request)).order_by(
            "account_id", "instrument__symbol"
        )


class PositionBySymbolView(APIView):
    @extend_schema(
        summary="Your position in one instrument",
        operation_id="positions_by_symbol",
        description="A list with one entry per account of yours that has traded the "
        "instrument (empty if none has); `account` narrows it to one account.",
        parameters=[AccountQuerySerializer],
        responses={200: PositionSerializer(many=True), **_errors(400, 404)},
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = query_params(AccountQuerySerializer, request)
        symbol = symbol.strip().upper()
        # A NUL cannot be in a symbol, and PostgreSQL refuses it in a query: not found.
        if "\x00" in symbol or not selectors.instrument_exists(symbol):
            raise Http404(f"unknown instrument {symbol!r}.")
        positions = selectors.positions_in_instrument_for_owner(
            request_owner_id(request), symbol, account_id=query.get("account")
        )
        return Response(PositionSerializer(positions, many=True).data)


class PositionsSyncView(APIView):
    @extend_schema(
        summary="Reconcile with the venue",
        description="Asks the venue about each of your open orders that was sent (all your "
        "accounts, or `account`), records what it reports (fills, status) and answers with "
        "the orders that changed, those the venue could not settle, and your positions.",
        request=PositionsSyncSerializer,
        responses={200: PositionsSyncResultSerializer, **_errors(400, 404)},
    )
    def post(self, request: Request) -> Response:
        form = PositionsSyncSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = owned_account(request, form.validated_data.get("account"))
        account_id = None if account is None else account.pk
        orders = selectors.orders_to_reconcile_for_owner(
            request_owner_id(request), account_id=account_id
        )
        changed, unsettled = [], []
        for order in orders:
            try:
                settled = order_reconcile(order_id=order.pk, actor=request_actor(request))
            except DomainError as error:
                unsettled.append(
                    {
                        "order_id": order.pk,
                        "client_order_id": order.client_order_id,
                        "message": str(error),
                    }
                )
                continue
            if (settled.status, settled.filled_quantity) != (order.status, order.filled_quantity):
                changed.append(order.pk)
        positions = selectors.positions_for_owner(request_owner_id(request)).order_by(
            "account_id", "instrument__symbol"
        )
        if account_id is not None:
            positions = positions.filter(account_id=account_id)
        result = {
            "checked": len(orders),
            "changed": selectors.orders_for_owner(request_owner_id(request)).filter(pk__in=changed),
            "unsettled": unsettled,
            "positions": positions,
        }
        return Response(PositionsSyncResultSerializer(result).data)


# --- trades -------------------------------------------------------------------------------------


@extend_schema(
    summary="Your trades (fills), newest first",
    responses={200: TradeSerializer(many=True), **_errors(400)},
)
class TradeListView(generics.ListAPIView[Fill]):
    serializer_class = TradeSerializer
    filterset_class = TradeFilter

    def get_queryset(self) -> QuerySet[Fill]:
        if getattr(self, "swagger_fake_view", False):
            return Fill.objects.none()
        return selectors.fills_for_owner(request_owner_id(self.request)).order_by(
            "-filled_at", "-pk"
        )


# --- performance, statistics, accounts ----------------------------------------------------------

PERFORMANCE_DESCRIPTION = """
Performance of one account (`account`; may be left out when you have only one).

**Round trips** (trade_count, win_rate, profit_factor, average_trade, net_pnl, fees): your
fills are replayed per instrument in time order with the same accounting as positions
(`execution.domain.metrics.closed_trades`): a round trip opens when the position leaves flat
and closes when it is flat again (a fill through zero closes one and opens the next). Those
closed between `start_date` and `end_date` (UTC days, inclusive) count; `instrument` keeps one
symbol's. P&L is net of fees, in the account's currency.

**Equity curve** (`equity_curve`): each UTC day's opening equity (the account's daily rows,
written at 00:00 UTC or at the first order of the day; days without a row are skipped), plus
the current equity now when the range reaches today. **Returns are time-weighted**: the
deposits and withdrawals between two points (`cash_flows`) are taken out of that period's
change, so a deposit is not a gain nor a withdrawal a loss; a flow counts as capital for the
part of the period after it (Modified Dietz per period, periods chained;
`execution.domain.metrics.time_weighted_curve`). From the chained returns (`curve`): total
return, Sharpe and Sortino ratios (annualised with 365 periods a year, risk-free rate 0),
maximum drawdown (its money as a loss of the first point's equity) and its duration, and
exposure (time in a round trip over the curve's span). `curve` is null with fewer than two
points, or when a period's return cannot be measured (withdrawals took out the capital it is
measured on). The curve is the whole account's: `instrument` does not narrow it.
"""


class PerformanceView(APIView):
    @extend_schema(
        summary="Performance metrics",
        description=PERFORMANCE_DESCRIPTION,
        parameters=[PerformanceQuerySerializer],
        responses={200: PerformanceSerializer, **_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        query = query_params(PerformanceQuerySerializer, request)
        account = owned_account(request, query.get("account"))
        if account is None:
            accounts = list(selectors.accounts_for_owner(request_owner_id(request))[:2])
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
            account = accounts[0]
        performance = selectors.account_performance(
            account,
            start_date=query.get("start_date"),
            end_date=query.get("end_date"),
            symbol=query.get("instrument"),
        )
        return Response(PerformanceSerializer(performance).data)


EXECUTION_QUALITY_DESCRIPTION = """
Execution quality of your parent orders (all your accounts, or `account`) placed from
`start_date` to `end_date` (UTC days, inclusive), optionally of one `instrument`, strategy
(`strategy_id`) or `algorithm`, summarized per algorithm (`by_algorithm`) and per strategy
(`by_strategy`, parents placed by hand under `strategy_id` null). Each parent is measured as in
`parent-orders/{id}/`; a group's money (arrival notional, fees) is in one quote currency, so a
group spans one currency.

Basis points are weighted by each parent's size at arrival (quantity x arrival mid; filled
quantity x arrival mid for slippage); `mean_` figures are plain means over the parents where
the figure is known. **Compared with immediate market execution**: for each parent with a book
stored at placement deep enough for its whole quantity, one market order walking that book at
once, taker fee included (`baseline_cost_bps`). `improvement_bps` is that cost less the
parents' implementation shortfall (fees and the unfilled part included, so an algorithm that
waits and fills little is not flattered) and `improvement_pct` the improvement as a
percentage of the baseline's cost. These are null when no parent of the group has such a book.
The baseline sees only the displayed depth at arrival: not hidden liquidity, not the book
refilling.
"""


class ExecutionQualityView(APIView):
    @extend_schema(
        summary="Execution quality per algorithm and per strategy",
        operation_id="execution_quality",
        description=EXECUTION_QUALITY_DESCRIPTION,
        parameters=[ExecutionQualityQuerySerializer],
        responses={200: ExecutionQualityReportSerializer, **_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        query = query_params(ExecutionQualityQuerySerializer, request)
        account = owned_account(request, query.get("account"))
        report = selectors.execution_quality_report_for_owner(
            request_owner_id(request),
            account_id=None if account is None else account.pk,
            symbol=query.get("instrument"),
            strategy_id=query.get("strategy_id"),
            algorithm=query.get("algorithm"),
            start_date=query.get("start_date"),
            end_date=query.get("end_date"),
        )
        return Response(ExecutionQualityReportSerializer(report).data)


class StatisticsView(APIView):
    @extend_schema(
        summary="Trading statistics",
        description="All-time counts and sums over your accounts (or `account`): orders by "
        "status, fills, traded volume and notional, fees, realized and unrealized P&L, per "
        "instrument and totalled per quote currency.",
        parameters=[AccountQuerySerializer],
        responses={200: StatisticsSerializer, **_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        account = owned_account(
            request, query_params(AccountQuerySerializer, request).get("account")
        )
        statistics = selectors.trading_statistics_for_owner(
            request_owner_id(request), account_id=None if account is None else account.pk
        )
        return Response(StatisticsSerializer(statistics).data)


class AccountListView(APIView):
    @extend_schema(
        summary="Your accounts",
        description="Each with its risk limits and valuation in its base currency.",
        responses={200: AccountSerializer(many=True), **_errors()},
    )
    def get(self, request: Request) -> Response:
        overviews = selectors.account_overviews_for_owner(request_owner_id(request))
        return Response(AccountSerializer(overviews, many=True).data)
