"""The paper exchange: the ``Venue`` protocol on top of the matching engine.

Market data comes in through ``update_book``, ``on_trade``, ``on_mark`` (book instruments) and
``on_candle`` (instruments without a book); each returns the fills it caused so the caller can
record them. ``execution.domain.matching`` documents the fill model and its assumptions.

Accounting is margin style: positions are signed and kept in a ``PositionLedger``, and cash in
the quote currency changes by realized P&L net of fees (a maker rebate adds to it).

Submitting a client order id again returns the existing order's report and changes nothing, so
a retry after a lost answer is safe; the same id with a different request is refused.
``reduce_only`` is checked at submission against the position at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from execution.domain.errors import DomainError
from execution.domain.matching import (
    Candle,
    CandleRules,
    EngineOrder,
    Execution,
    FeeSchedule,
    Grid,
    MatchingEngine,
    OrderBook,
)
from execution.domain.orders import FillEvent, OrderRequest, OrderStatus
from execution.domain.positions import PositionLedger, PositionState
from execution.domain.values import DOMAIN_CONTEXT, ZERO, InstrumentSpec, Side, to_decimal
from execution.venues.base import VenueError, VenueFill, VenueOrderReport

Levels = Iterable[tuple[Decimal, Decimal]]


class _Placed:
    """What the venue remembers of one client order id."""

    __slots__ = ("fills", "grid", "order", "request", "venue_order_id")

    def __init__(
        self, request: OrderRequest, order: EngineOrder, grid: Grid, venue_order_id: str
    ) -> None:
        self.request = request
        self.order = order
        self.grid = grid
        self.venue_order_id = venue_order_id
        self.fills: list[VenueFill] = []  # every fill of the order, for fetch_order


class PaperVenue:
    """A simulated exchange account, deterministic given its seed, inputs and clock."""

    def __init__(
        self,
        *,
        instruments: Iterable[InstrumentSpec],
        clock: Callable[[], datetime],
        maker_fee_rate: Decimal = ZERO,
        taker_fee_rate: Decimal = ZERO,
        latency: timedelta = timedelta(0),
        latency_jitter: timedelta = timedelta(0),
        seed: int = 0,
        balances: Mapping[str, Decimal] | None = None,
        candle_rules: CandleRules | None = None,
        name: str = "paper",
    ) -> None:
        try:
            self._fees = FeeSchedule(maker_rate=maker_fee_rate, taker_rate=taker_fee_rate)
            self._engine = MatchingEngine(
                venue=name,
                latency=latency,
                latency_jitter=latency_jitter,
                seed=seed,
                candle_rules=candle_rules or CandleRules(),
            )
            self._cash = {
                currency: to_decimal(amount, field=f"{currency} balance")
                for currency, amount in (balances or {}).items()
            }
        except DomainError as error:
            raise VenueError(f"paper venue configuration: {error}") from error
        self._grids = {spec.symbol: Grid(spec) for spec in instruments}
        self._clock = clock
        self._name = name
        self._ledger = PositionLedger()
        self._placed: dict[str, _Placed] = {}

    # -- Venue ---------------------------------------------------------------------------------

    def submit(self, request: OrderRequest, *, client_order_id: str) -> VenueOrderReport:
        placed = self._placed.get(client_order_id)
        if placed is not None:
            if placed.request != request:
                raise VenueError(
                    f"client order id {client_order_id} was already used for a different order"
                )
            return self._report(placed, [], self._clock())
        if not client_order_id:
            raise VenueError("an order needs a client order id")
        grid = self._grid(request.symbol)
        order = self._engine_order(request, client_order_id, grid)
        now = self._clock()
        placed = _Placed(request, order, grid, f"{self._name}-order-{len(self._placed) + 1}")
        self._placed[client_order_id] = placed
        refusal = self._reduce_only_refusal(request) if request.reduce_only else None
        if refusal is not None:
            order.move(OrderStatus.REJECTED, refusal)
            return self._report(placed, [], now)
        executions = self._engine.submit(order, now)
        return self._report(placed, self._settle(executions) if executions else [], now)

    def cancel(self, client_order_id: str) -> VenueOrderReport:
        placed = self._open_placed(client_order_id, "cancelled")
        self._engine.cancel(client_order_id)
        return self._report(placed, [], self._clock())

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> VenueOrderReport:
        placed = self._open_placed(client_order_id, "amended")
        order, grid = placed.order, placed.grid
        now = self._clock()
        try:
            lots = None if quantity is None else grid.lots(grid.spec.check_quantity(quantity))
            ticks = None if price is None else grid.ticks(grid.spec.check_price(price))
        except DomainError as error:
            raise VenueError(str(error)) from error
        if lots is not None and lots <= order.filled_lots:
            raise VenueError(
                f"order {client_order_id}: new quantity {quantity} must be above the filled "
                f"quantity {grid.quantity(order.filled_lots)}; cancel the order to stop it"
            )
        try:
            executions = self._engine.amend(client_order_id, now=now, lots=lots, limit_ticks=ticks)
        except DomainError as error:
            raise VenueError(str(error)) from error
        return self._report(placed, self._settle(executions), now)

    def fetch_order(self, client_order_id: str) -> VenueOrderReport | None:
        placed = self._placed.get(client_order_id)
        return None if placed is None else self._report(placed, placed.fills, self._clock())

    def restore(
        self,
        *,
        orders: Iterable[tuple[str, OrderRequest, Decimal, Decimal]],
        positions: Mapping[str, PositionState],
        cash: Mapping[str, Decimal],
    ) -> list[VenueFill]:
        """Reload state kept elsewhere (the database is the record) into a new venue.

        ``orders`` are open orders as (client order id, request, filled quantity, filled
        notional). Working limit and stop orders go back as they were (makers at the back of
        their queue); an order that may never have arrived (a market or IOC order sent just
        before a crash) is submitted afresh. Returns fills that happen at once.
        """
        for symbol, state in positions.items():
            self._grid(symbol)
            self._ledger.positions[symbol] = state
        self._cash.update(cash)
        fills: list[VenueFill] = []
        now = self._clock()
        for client_order_id, request, filled, notional in orders:
            grid = self._grid(request.symbol)
            order = self._engine_order(request, client_order_id, grid)
            order.filled_lots = grid.lots(filled, field="filled quantity") if filled else 0
            order.filled_notional = int(
                DOMAIN_CONTEXT.divide(
                    notional, DOMAIN_CONTEXT.multiply(grid.spec.tick_size, grid.spec.lot_size)
                )
            )
            placed = _Placed(request, order, grid, f"{self._name}-order-{len(self._placed) + 1}")
            self._placed[client_order_id] = placed
            try:
                self._engine.restore(order, now)
            except DomainError:
                order.filled_lots = order.filled_notional = 0
                fills.extend(self._settle(self._engine.submit(order, now)))
        return fills

    def open_orders(self, symbol: str | None = None) -> list[VenueOrderReport]:
        if symbol is not None:
            self._grid(symbol)
        now = self._clock()
        return [
            self._report(self._placed[order.order_id], [], now)
            for order in self._engine.open_orders(symbol)
        ]

    def balances(self) -> dict[str, Decimal]:
        return dict(self._cash)

    def positions(self) -> dict[str, PositionState]:
        return dict(self._ledger.positions)

    # -- market data ---------------------------------------------------------------------------

    def update_book(
        self, symbol: str, bids: Levels, asks: Levels, timestamp: datetime
    ) -> list[VenueFill]:
        """A full L2 snapshot: bids highest first, asks lowest first, (price, size) levels."""
        grid = self._grid(symbol)
        try:
            book = OrderBook(_levels(grid, bids, "bid"), _levels(grid, asks, "ask"), timestamp)
            executions = self._engine.on_book(symbol, book)
        except DomainError as error:
            raise VenueError(f"{symbol} book snapshot: {error}") from error
        return self._settle(executions)

    def on_trade(
        self,
        symbol: str,
        price: Decimal,
        quantity: Decimal,
        aggressor_side: Side,
        timestamp: datetime,
    ) -> list[VenueFill]:
        """A public trade print; ``aggressor_side`` is the side of the taker."""
        grid = self._grid(symbol)
        try:
            executions = self._engine.on_trade(
                symbol, grid.ticks(price), grid.lots(quantity), Side(aggressor_side), timestamp
            )
        except (DomainError, ValueError) as error:
            raise VenueError(f"{symbol} trade: {error}") from error
        return self._settle(executions)

    def on_mark(self, symbol: str, price: Decimal, timestamp: datetime) -> list[VenueFill]:
        """A mark price; it triggers stops only."""
        grid = self._grid(symbol)
        try:
            executions = self._engine.on_mark(symbol, grid.ticks(price), timestamp)
        except DomainError as error:
            raise VenueError(f"{symbol} mark: {error}") from error
        return self._settle(executions)

    def on_candle(
        self,
        symbol: str,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
        start: datetime,
        end: datetime,
    ) -> list[VenueFill]:
        """One OHLC bar of an instrument without a book (volume in base units)."""
        grid = self._grid(symbol)
        try:
            candle = Candle(
                open=grid.ticks(open, field="open"),
                high=grid.ticks(high, field="high"),
                low=grid.ticks(low, field="low"),
                close=grid.ticks(close, field="close"),
                volume=grid.whole_lots(volume),
                start=start,
                end=end,
            )
            executions = self._engine.on_candle(symbol, candle)
        except DomainError as error:
            raise VenueError(
                f"{symbol} candle (open {open}, high {high}, low {low}, close {close}): {error}"
            ) from error
        return self._settle(executions)

    # -- internals -----------------------------------------------------------------------------

    def _engine_order(self, request: OrderRequest, client_order_id: str, grid: Grid) -> EngineOrder:
        try:
            return EngineOrder(
                order_id=client_order_id,
                symbol=request.symbol,
                side=request.side,
                order_type=request.order_type,
                lots=grid.lots(request.quantity),
                time_in_force=request.time_in_force,
                limit_ticks=None if request.price is None else grid.ticks(request.price),
                stop_ticks=None
                if request.stop_price is None
                else grid.ticks(request.stop_price, field="stop price"),
            )
        except DomainError as error:
            raise VenueError(str(error)) from error

    def _grid(self, symbol: str) -> Grid:
        grid = self._grids.get(symbol)
        if grid is None:
            known = ", ".join(sorted(self._grids)) or "nothing"
            raise VenueError(f"unknown symbol {symbol!r}: this venue trades {known}")
        return grid

    def _open_placed(self, client_order_id: str, action: str) -> _Placed:
        placed = self._placed.get(client_order_id)
        if placed is None:
            raise VenueError(f"unknown order {client_order_id}: it was never submitted here")
        status = placed.order.status
        if not status.is_open:
            raise VenueError(
                f"order {client_order_id} is {status}; only an open order can be {action}"
            )
        return placed

    def _reduce_only_refusal(self, request: OrderRequest) -> str | None:
        position = self._ledger.get(request.symbol).quantity
        if position * request.side.sign >= 0:
            return "reduce-only order would not reduce the position"
        if request.quantity > abs(position):
            return (
                f"reduce-only order for {request.quantity} exceeds the position of {abs(position)}"
            )
        return None

    def _settle(self, executions: list[Execution]) -> list[VenueFill]:
        """Charge fees, book fills into positions and cash, and report them."""
        fills: list[VenueFill] = []
        fees, grids, ledger, cash = self._fees, self._grids, self._ledger, self._cash
        placed = self._placed
        for fill_id, order_id, symbol, side, lots, ticks, liquidity, timestamp in executions:
            grid = grids[symbol]
            quantity = grid.quantity(lots)
            price = grid.price(ticks)
            fee = fees.fee(quantity, price, liquidity)
            quote = grid.spec.quote
            effect = ledger.apply(symbol, FillEvent(fill_id, side, quantity, price, fee, liquidity))
            if effect is not None:
                cash[quote] = DOMAIN_CONTEXT.add(cash.get(quote, ZERO), effect.realized_pnl)
            # Positional: this runs for every fill of every order.
            fill = VenueFill(
                fill_id, order_id, symbol, side, quantity, price, fee, quote, liquidity, timestamp
            )
            fills.append(fill)
            placed[order_id].fills.append(fill)
        return fills

    def _report(self, placed: _Placed, fills: list[VenueFill], now: datetime) -> VenueOrderReport:
        order, grid = placed.order, placed.grid
        return VenueOrderReport(
            client_order_id=order.order_id,
            venue_order_id=placed.venue_order_id,
            symbol=order.symbol,
            status=order.status,
            quantity=grid.quantity(order.lots),
            filled_quantity=grid.quantity(order.filled_lots),
            average_price=grid.average_price(order.filled_notional, order.filled_lots),
            fills=tuple(fills),
            reason=order.reason,
            timestamp=now,
        )


def _levels(grid: Grid, levels: Levels, name: str) -> list[tuple[int, int]]:
    return [
        (grid.ticks(price, field=f"{name} price"), grid.lots(size, field=f"{name} size"))
        for price, size in levels
    ]
