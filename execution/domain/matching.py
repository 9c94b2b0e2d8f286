"""Paper matching: an L2 order book per instrument, and the engine that fills the paper
account's orders against it, or against candles for instruments that have no book.

Inside, prices are integer ticks and quantities integer lots (``Grid`` converts at the edges):
Decimal arithmetic is too slow for the tens of thousands of orders a second a backtest sends.

Assumptions; the paper exchange is only as honest as these.

Every instrument
- An instrument's fill model is fixed by its first market-data event: a snapshot, trade print
  or mark makes it a book instrument, a candle a candle instrument; events of the other kind
  are then refused, so the same liquidity is never filled twice by two models.
- Latency: an order submitted at t becomes active at t + latency (+ seeded uniform jitter) and
  is matched on the first market-data event at or after that time, after that event has been
  applied: it meets the first book the venue knows of after it arrived. With no latency and no
  jitter, an order on a book instrument is matched at submit against the current book; before
  an instrument has any market data, orders wait for its first event. Cancels and amends take
  effect at once.
- Our own orders never match each other. A time in force that ends an order (a market order,
  IOC or FOK) leaves its unfilled remainder EXPIRED; CANCELLED means the account asked for it.
- Stops wait for the next trade print or mark (book) or bar (candles); a stop already
  through the market when it arrives is not triggered by earlier prices.

Book model
- The book is the market's displayed depth without our orders. A snapshot replaces the engine's
  copy; between snapshots our taking orders and trade prints consume it, so no liquidity is
  taken twice.
- Market orders walk the opposite side level by level, one fill per level; what the depth
  cannot fill expires. A limit order that crosses takes (taker) up to its price, then rests
  (maker); IOC expires what it could not take; FOK takes everything at once or expires with no
  fill; post-only is rejected if it would cross the best opposite price.
- Queue position: a resting order's ``queue_ahead`` starts at the displayed size at its price
  on its side, plus our own earlier orders there. Trade prints at our price by an aggressor on
  the other side consume ``queue_ahead`` first, then fill us; a print strictly through our
  price (a sell below our bid, a buy above our ask) means the level was cleared and fills us
  fully. A snapshot in which our level shrank lowers ``queue_ahead`` to at most its new size:
  we assume the cancellations were ahead of us only as far as they must have been, which is
  optimistic for cancellations behind us but never keeps us behind depth that is gone. A
  snapshot whose opposite best crosses our price fills us (maker, at our price) up to the
  crossing depth, which it consumes.
- A price amend or a quantity increase loses queue priority; a decrease keeps it. An amend
  must leave the quantity above what is filled (to stop an order, cancel it).
- Fill ids are ``{venue}-{n}``, one sequence per engine; fees are quantity x price x the
  maker or taker rate (``FeeSchedule``), charged by the venue at its Decimal edge.

Candle model (``on_candle``), for instruments with no book; ``CandleRules`` configures it.
- An order takes part in a bar if it was active at the bar's start; later ones wait for the
  next bar. Market orders fill at the open, slipped by ``slippage_bps`` against us and rounded
  onto the tick grid against us (taker). A limit order marketable at the first bar it meets
  (a buy at or above the open) fills at the open as taker (post-only: rejected). A resting
  buy limit fills (maker) when the bar trades through it, low < limit (low <= limit with
  ``touch_fills``), at min(limit, open): a gap through the open fills at the open. Sells are
  symmetric.
- Stops trigger when high >= stop (buy) or low <= stop (sell), at the worse of the stop and the
  open, slipped (taker). A triggered stop-limit fills there if its limit allows (capped at the
  limit); otherwise it rests as a limit from the next bar: within one bar we do not know
  whether prices came back after the trigger.
- ``max_volume_fraction`` caps our fills in a bar to that share of its volume, shared by our
  orders in this priority: resting limits, then waiting stops, then newly active orders.
- Fills at the open are stamped with the bar's start, fills inside the bar with its end.
"""

from __future__ import annotations

import bisect
import operator
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple

from execution.domain.errors import DomainError
from execution.domain.orders import OrderStatus, OrderType, TimeInForce, check_transition
from execution.domain.values import (
    DOMAIN_CONTEXT,
    ZERO,
    InstrumentSpec,
    Liquidity,
    Side,
    exact,
    quantize,
    to_decimal,
)

# DOMAIN_CONTEXT's methods are called directly below: entering a local context costs more than
# the arithmetic itself, and the hot path converts and charges on every fill.
_BPS = Decimal(10_000)


class Grid:
    """One instrument's tick and lot grid: Decimal prices and quantities at the edges,
    integer ticks and lots inside."""

    __slots__ = ("lot_size", "spec", "tick_size")

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.tick_size = spec.tick_size
        self.lot_size = spec.lot_size

    def ticks(self, price: object, *, field: str = "price") -> int:
        """A positive price on the tick grid, in ticks; anything else raises."""
        return self._units(price, self.tick_size, field, "tick size")

    def lots(self, quantity: object, *, field: str = "quantity") -> int:
        """A positive quantity on the lot grid, in lots; anything else raises."""
        return self._units(quantity, self.lot_size, field, "lot size")

    def whole_lots(self, quantity: object, *, field: str = "volume") -> int:
        """A non-negative quantity in whole lots, rounded down (a bar's traded volume)."""
        amount = to_decimal(quantity, field=field)
        if amount < 0:
            raise DomainError(f"{field} {amount} must not be negative")
        return int(DOMAIN_CONTEXT.divide(amount, self.lot_size).to_integral_value(ROUND_FLOOR))

    def price(self, ticks: int) -> Decimal:
        return DOMAIN_CONTEXT.multiply(ticks, self.tick_size)

    def quantity(self, lots: int) -> Decimal:
        return DOMAIN_CONTEXT.multiply(lots, self.lot_size)

    def average_price(self, notional: int, lots: int) -> Decimal | None:
        """The average of fills worth ``notional`` tick-lots over ``lots``, stored precision."""
        if not lots:
            return None
        if notional % lots == 0:
            return self.price(notional // lots)
        return quantize(
            DOMAIN_CONTEXT.divide(DOMAIN_CONTEXT.multiply(notional, self.tick_size), lots)
        )

    def _units(self, value: object, step: Decimal, field: str, step_name: str) -> int:
        amount = value if type(value) is Decimal else to_decimal(value, field=field)
        try:
            units = DOMAIN_CONTEXT.divide(amount, step)
            whole = int(units)
        except (ArithmeticError, ValueError):  # NaN, infinity, out of range
            units, whole = ZERO, 0
        if whole == units and whole > 0:
            return whole
        raise DomainError(
            f"{field} {amount} is not a positive multiple of {self.spec.symbol}'s "
            f"{step_name} {step}"
        )


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates on notional, charged in the quote currency; a negative maker rate is a rebate."""

    maker_rate: Decimal = ZERO
    taker_rate: Decimal = ZERO

    def __post_init__(self) -> None:
        to_decimal(self.maker_rate, field="maker fee rate")
        taker = to_decimal(self.taker_rate, field="taker fee rate")
        if taker < 0:
            raise DomainError(f"taker fee rate {taker} must not be negative")

    def fee(self, quantity: Decimal, price: Decimal, liquidity: Liquidity) -> Decimal:
        """quantity x price x rate, at the stored precision."""
        rate = self.maker_rate if liquidity is Liquidity.MAKER else self.taker_rate
        return quantize(DOMAIN_CONTEXT.multiply(DOMAIN_CONTEXT.multiply(quantity, price), rate))


@dataclass(frozen=True, slots=True)
class CandleRules:
    """How the OHLC fill model fills orders of instruments without a book."""

    slippage_bps: Decimal = ZERO  # market and stop fills, against us
    touch_fills: bool = False  # a limit also fills when the bar only touches its price
    max_volume_fraction: Decimal | None = None  # our fills per bar, as a share of its volume

    def __post_init__(self) -> None:
        if to_decimal(self.slippage_bps, field="slippage bps") < 0:
            raise DomainError(f"slippage {self.slippage_bps} bps must not be negative")
        if self.max_volume_fraction is not None:
            fraction = to_decimal(self.max_volume_fraction, field="max volume fraction")
            if not 0 < fraction <= 1:
                raise DomainError(f"max volume fraction {fraction} must be in (0, 1]")


class FillModel(StrEnum):
    BOOK = "book"
    CANDLES = "candles"


class Execution(NamedTuple):
    """One fill of one of our orders, in ticks and lots."""

    fill_id: str
    order_id: str
    symbol: str
    side: Side
    lots: int
    ticks: int
    liquidity: Liquidity
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLC bar in ticks, its traded volume in whole lots."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        body_low, body_high = min(self.open, self.close), max(self.open, self.close)
        if not 0 < self.low <= body_low <= body_high <= self.high:
            raise DomainError(
                f"candle prices are inconsistent: open {self.open}, high {self.high}, "
                f"low {self.low}, close {self.close} (ticks); low <= open, close <= high"
            )
        if self.volume < 0:
            raise DomainError(f"candle volume {self.volume} must not be negative")
        if self.end <= self.start:
            raise DomainError(f"candle ends at {self.end}, not after its start {self.start}")


class EngineOrder:
    """One order of the paper account in ticks and lots; the engine updates it in place."""

    __slots__ = (
        "active_at",
        "filled_lots",
        "filled_notional",
        "limit_ticks",
        "lots",
        "order_id",
        "order_type",
        "queue_ahead",
        "reason",
        "sequence",
        "side",
        "status",
        "stop_ticks",
        "symbol",
        "time_in_force",
    )

    def __init__(
        self,
        *,
        order_id: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        lots: int,
        time_in_force: TimeInForce = TimeInForce.GTC,
        limit_ticks: int | None = None,
        stop_ticks: int | None = None,
    ) -> None:
        if lots <= 0:
            raise DomainError(f"order {order_id}: quantity must be positive, got {lots} lots")
        if (limit_ticks is not None) != order_type.has_limit_price:
            raise DomainError(
                f"order {order_id}: a {order_type} order "
                + ("needs a limit price" if order_type.has_limit_price else "takes no limit price")
            )
        if (stop_ticks is not None) != order_type.has_stop_price:
            raise DomainError(
                f"order {order_id}: a {order_type} order "
                + ("needs a stop price" if order_type.has_stop_price else "takes no stop price")
            )
        if time_in_force is TimeInForce.POST_ONLY and order_type is not OrderType.LIMIT:
            raise DomainError(f"order {order_id}: post-only applies to limit orders only")
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.lots = lots
        self.limit_ticks = limit_ticks
        self.stop_ticks = stop_ticks
        self.filled_lots = 0
        self.filled_notional = 0  # sum of ticks x lots over its fills
        self.status = OrderStatus.NEW
        self.reason: str | None = None
        self.queue_ahead = 0  # displayed lots ahead of us at our price, while resting
        self.active_at: datetime | None = None
        self.sequence = 0  # time priority, set at submit

    @property
    def remaining_lots(self) -> int:
        return self.lots - self.filled_lots

    def move(self, status: OrderStatus, reason: str | None = None) -> None:
        """Change status through the one transition table."""
        check_transition(self.status, status)
        self.status = status
        if reason is not None:
            self.reason = reason

    def __repr__(self) -> str:
        return (
            f"EngineOrder({self.order_id} {self.side} {self.order_type} {self.filled_lots}/"
            f"{self.lots} lots, limit {self.limit_ticks}, stop {self.stop_ticks}, {self.status})"
        )


def _levels(
    levels: Iterable[tuple[int, int]], name: str, better: int
) -> tuple[list[int], list[int]]:
    """Validate one side given best first; return its ticks and lots best last."""
    ticks: list[int] = []
    lots: list[int] = []
    for index, (price, size) in enumerate(levels, start=1):
        if price <= 0 or size <= 0:
            raise DomainError(
                f"{name} level {index} must have a positive price and size, got "
                f"{price} ticks x {size} lots"
            )
        if ticks and (ticks[-1] - price) * better <= 0:
            raise DomainError(
                f"{name}s must be sorted best first with one level per price; level {index} "
                "breaks the order"
            )
        ticks.append(price)
        lots.append(size)
    ticks.reverse()
    lots.reverse()
    return ticks, lots


class OrderBook:
    """The displayed depth of one instrument in ticks and lots: the market without our orders.

    Each side is kept best level last, so taking the best level is a pop from the end. The
    engine consumes the book in place.
    """

    __slots__ = ("_ask_lots", "_ask_ticks", "_bid_lots", "_bid_ticks", "timestamp")

    def __init__(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        timestamp: datetime,
    ) -> None:
        """``bids`` highest first, ``asks`` lowest first, as (ticks, lots) levels."""
        self._bid_ticks, self._bid_lots = _levels(bids, "bid", better=1)
        self._ask_ticks, self._ask_lots = _levels(asks, "ask", better=-1)
        if self._bid_ticks and self._ask_ticks and self._bid_ticks[-1] >= self._ask_ticks[-1]:
            raise DomainError(
                f"crossed book: best bid {self._bid_ticks[-1]} is at or above best ask "
                f"{self._ask_ticks[-1]} (ticks)"
            )
        self.timestamp = timestamp

    @property
    def best_bid(self) -> int | None:
        return self._bid_ticks[-1] if self._bid_ticks else None

    @property
    def best_ask(self) -> int | None:
        return self._ask_ticks[-1] if self._ask_ticks else None

    def levels(self, side: Side) -> list[tuple[int, int]]:
        """One side's (ticks, lots) levels, best first."""
        if side is Side.BUY:
            return list(zip(reversed(self._bid_ticks), reversed(self._bid_lots), strict=True))
        return list(zip(reversed(self._ask_ticks), reversed(self._ask_lots), strict=True))

    def size_at(self, side: Side, ticks: int) -> int:
        """Displayed lots at one price on one side (0 when there is no such level)."""
        if side is Side.BUY:
            prices, sizes = self._bid_ticks, self._bid_lots
            index = bisect.bisect_left(prices, ticks)
        else:
            prices, sizes = self._ask_ticks, self._ask_lots
            index = bisect.bisect_left(prices, -ticks, key=operator.neg)
        return sizes[index] if index < len(prices) and prices[index] == ticks else 0

    def crosses(self, taker_side: Side, limit: int) -> bool:
        """Whether an order at ``limit`` would take the best opposite level."""
        if taker_side is Side.BUY:
            return bool(self._ask_ticks) and self._ask_ticks[-1] <= limit
        return bool(self._bid_ticks) and self._bid_ticks[-1] >= limit

    def depth(self, taker_side: Side, limit: int, enough: int) -> int:
        """Lots a taker could take at ``limit`` or better, counted up to ``enough``."""
        buy = taker_side is Side.BUY
        if buy:
            prices, sizes = self._ask_ticks, self._ask_lots
        else:
            prices, sizes = self._bid_ticks, self._bid_lots
        total = 0
        for index in range(len(prices) - 1, -1, -1):
            if (prices[index] > limit) if buy else (prices[index] < limit):
                break
            total += sizes[index]
            if total >= enough:
                break
        return total

    def take(self, taker_side: Side, lots: int, limit: int | None = None) -> list[tuple[int, int]]:
        """Consume up to ``lots`` from the opposite side, best level first, no worse than
        ``limit``; return the (ticks, lots) taken per level."""
        taken: list[tuple[int, int]] = []
        if taker_side is Side.BUY:
            prices, sizes = self._ask_ticks, self._ask_lots
            while lots and prices:
                price = prices[-1]
                if limit is not None and price > limit:
                    break
                size = sizes[-1]
                if size > lots:
                    sizes[-1] = size - lots
                    taken.append((price, lots))
                    break
                prices.pop()
                sizes.pop()
                taken.append((price, size))
                lots -= size
        else:
            prices, sizes = self._bid_ticks, self._bid_lots
            while lots and prices:
                price = prices[-1]
                if limit is not None and price < limit:
                    break
                size = sizes[-1]
                if size > lots:
                    sizes[-1] = size - lots
                    taken.append((price, lots))
                    break
                prices.pop()
                sizes.pop()
                taken.append((price, size))
                lots -= size
        return taken

    def print_trade(self, aggressor: Side, ticks: int, lots: int) -> None:
        """Remove what a trade print shows was taken: every passive level better than its
        price, and its size at its price."""
        if aggressor is Side.SELL:
            prices, sizes = self._bid_ticks, self._bid_lots
            while prices and prices[-1] > ticks:
                prices.pop()
                sizes.pop()
        else:
            prices, sizes = self._ask_ticks, self._ask_lots
            while prices and prices[-1] < ticks:
                prices.pop()
                sizes.pop()
        if prices and prices[-1] == ticks:
            if sizes[-1] > lots:
                sizes[-1] -= lots
            else:
                prices.pop()
                sizes.pop()


class _Market:
    """The engine's state for one instrument."""

    __slots__ = ("book", "last_event", "model", "pending", "resting", "stops", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.model: FillModel | None = None
        self.book = OrderBook((), (), datetime.min)
        self.resting: dict[str, EngineOrder] = {}  # working limit orders, in time priority
        self.stops: dict[str, EngineOrder] = {}  # untriggered stops, in time priority
        self.pending: list[EngineOrder] = []  # not active yet, by (active_at, sequence)
        self.last_event: datetime | None = None

    def own_lots_at(self, order: EngineOrder) -> int:
        """Our resting lots at the order's side and price, all ahead of it in time."""
        return sum(
            other.remaining_lots
            for other in self.resting.values()
            if other.side is order.side and other.limit_ticks == order.limit_ticks
        )

    def release_queue(self, order: EngineOrder, lots: int) -> None:
        """Our orders behind ``order`` at its price move up by ``lots`` it gave up."""
        behind = False
        for other in self.resting.values():
            if other is order:
                behind = True
            elif behind and other.side is order.side and other.limit_ticks == order.limit_ticks:
                other.queue_ahead = max(0, other.queue_ahead - lots)


def _activation_key(order: EngineOrder) -> tuple[datetime, int]:
    assert order.active_at is not None
    return order.active_at, order.sequence


class _Bar:
    """One candle being filled, with what is left of its volume cap."""

    __slots__ = ("candle", "room")

    def __init__(self, candle: Candle, room: int | None) -> None:
        self.candle = candle
        self.room = room  # lots we may still fill in this bar; None: no cap

    def allows(self, lots: int) -> int:
        return lots if self.room is None else min(lots, self.room)


_EXPIRED_DEPTH = "the book's depth ran out: the unfilled remainder expired"
_EXPIRED_IOC = "immediate-or-cancel: the unfilled remainder expired"
_EXPIRED_FOK = "fill-or-kill: not enough liquidity to fill the whole order at once"
_EXPIRED_VOLUME = "the bar's volume cap ran out: the unfilled remainder expired"
_POST_ONLY = "post-only order would take liquidity"


class MatchingEngine:
    """Matches the paper account's orders against each instrument's book or candles.

    Deterministic: the same orders, market data and seed give the same fills and fill ids.
    Times are passed in; the engine never reads a clock.
    """

    def __init__(
        self,
        *,
        venue: str = "paper",
        latency: timedelta = timedelta(0),
        latency_jitter: timedelta = timedelta(0),
        seed: int = 0,
        candle_rules: CandleRules = CandleRules(),
    ) -> None:
        if latency < timedelta(0) or latency_jitter < timedelta(0):
            raise DomainError("latency and its jitter must not be negative")
        self._venue = venue
        self._latency = latency
        self._jitter_us = latency_jitter // timedelta(microseconds=1)
        self._random = random.Random(seed)
        self._rules = candle_rules
        with exact():
            self._slip_up = 1 + candle_rules.slippage_bps / _BPS
            self._slip_down = 1 - candle_rules.slippage_bps / _BPS
        self._markets: dict[str, _Market] = {}
        self._open: dict[str, EngineOrder] = {}
        self._sequence = 0
        self._fill_count = 0

    # -- orders --------------------------------------------------------------------------------

    def submit(self, order: EngineOrder, now: datetime) -> list[Execution]:
        """Accept a new order; return the fills it got at once (none while latency runs)."""
        if order.status is not OrderStatus.NEW:
            raise DomainError(f"order {order.order_id} was already submitted ({order.status})")
        if order.order_id in self._open:
            raise DomainError(f"an open order already has id {order.order_id}")
        market = self._markets.get(order.symbol) or self._add_market(order.symbol)
        self._sequence += 1
        order.sequence = self._sequence
        order.move(OrderStatus.SUBMITTED)
        self._open[order.order_id] = order
        if self._jitter_us:
            delay = self._latency + timedelta(microseconds=self._random.randint(0, self._jitter_us))
        else:
            delay = self._latency
        order.active_at = now + delay if delay else now
        executions: list[Execution] = []
        if delay or market.model is not FillModel.BOOK:
            bisect.insort(market.pending, order, key=_activation_key)
        else:
            self._activate(market, order, now, executions)
        return executions

    def restore(self, order: EngineOrder, now: datetime) -> None:
        """Put back an order that was working before a restart, with its fills so far.

        A limit order rests again at once at the back of its price level (it was a maker and
        stays one: a book that crossed it meanwhile fills it at its price on the next event);
        a stop waits for its trigger again. Anything else cannot have been working.
        """
        if order.status is not OrderStatus.NEW or order.order_id in self._open:
            raise DomainError(f"order {order.order_id} is already known here")
        resting_limit = order.order_type is OrderType.LIMIT and order.time_in_force in (
            TimeInForce.GTC,
            TimeInForce.POST_ONLY,
        )
        if not (resting_limit or order.order_type.has_stop_price):
            raise DomainError(
                f"order {order.order_id}: only resting limit and stop orders can be restored"
            )
        market = self._markets.get(order.symbol) or self._add_market(order.symbol)
        self._sequence += 1
        order.sequence = self._sequence
        order.active_at = now
        order.move(OrderStatus.PARTIALLY_FILLED if order.filled_lots else OrderStatus.SUBMITTED)
        self._open[order.order_id] = order
        if resting_limit:
            assert order.limit_ticks is not None
            order.queue_ahead = market.book.size_at(order.side, order.limit_ticks)
            order.queue_ahead += market.own_lots_at(order)
            market.resting[order.order_id] = order
        else:
            market.stops[order.order_id] = order

    def cancel(self, order_id: str) -> EngineOrder:
        order = self._open_order(order_id, "cancelled")
        market = self._markets[order.symbol]
        if order.order_id in market.resting:
            market.release_queue(order, order.remaining_lots)
        self._close(order, OrderStatus.CANCELLED, "cancelled on request")
        return order

    def amend(
        self,
        order_id: str,
        *,
        now: datetime,
        lots: int | None = None,
        limit_ticks: int | None = None,
    ) -> list[Execution]:
        """Change an open order's quantity and/or limit price; return the fills a new price
        took at once. A price change or a larger quantity loses queue priority."""
        order = self._open_order(order_id, "amended")
        if lots is None and limit_ticks is None:
            raise DomainError(f"order {order_id}: an amend needs a new quantity or a new price")
        if lots is not None and lots <= order.filled_lots:
            raise DomainError(
                f"order {order_id}: new quantity ({lots} lots) must be above the filled "
                f"quantity ({order.filled_lots} lots); cancel the order to stop it"
            )
        if limit_ticks is not None:
            if not order.order_type.has_limit_price:
                raise DomainError(
                    f"order {order_id}: a {order.order_type} order has no limit price"
                )
            if limit_ticks <= 0:
                raise DomainError(
                    f"order {order_id}: price must be positive, got {limit_ticks} ticks"
                )
        market = self._markets[order.symbol]
        reprice = limit_ticks is not None and limit_ticks != order.limit_ticks
        executions: list[Execution] = []
        if order.order_id not in market.resting:
            # Waiting for latency or a trigger: nothing queued to lose.
            order.lots = order.lots if lots is None else lots
            order.limit_ticks = order.limit_ticks if limit_ticks is None else limit_ticks
            return executions
        if (
            reprice
            and limit_ticks is not None
            and order.time_in_force is TimeInForce.POST_ONLY
            and market.model is FillModel.BOOK
            and market.book.crosses(order.side, limit_ticks)
        ):
            raise DomainError(f"order {order_id}: {_POST_ONLY} at the new price; amend refused")
        if reprice or (lots is not None and lots > order.lots):
            market.release_queue(order, order.remaining_lots)
            del market.resting[order.order_id]
            order.lots = order.lots if lots is None else lots
            order.limit_ticks = order.limit_ticks if limit_ticks is None else limit_ticks
            if market.model is FillModel.CANDLES:
                # Re-enter as new: the next bar decides whether it is marketable.
                order.active_at = now
                bisect.insort(market.pending, order, key=_activation_key)
            else:
                self._enter_limit(market, order, now, executions)
        elif lots is not None:
            market.release_queue(order, order.lots - lots)
            order.lots = lots
        return executions

    def order(self, order_id: str) -> EngineOrder | None:
        """An open order by id (closed orders are not kept)."""
        return self._open.get(order_id)

    def open_orders(self, symbol: str | None = None) -> list[EngineOrder]:
        """Open orders in time priority."""
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    def book(self, symbol: str) -> OrderBook | None:
        """The engine's current copy of an instrument's book, as consumed so far."""
        market = self._markets.get(symbol)
        return market.book if market is not None and market.model is FillModel.BOOK else None

    # -- market data: book model ---------------------------------------------------------------

    def on_book(self, symbol: str, book: OrderBook) -> list[Execution]:
        """Replace the book with a snapshot; fill resting orders it crossed, update queues."""
        market = self._book_event(symbol, book.timestamp)
        market.book = book
        executions: list[Execution] = []
        own: dict[tuple[Side, int], int] = {}
        for order in list(market.resting.values()):
            limit = order.limit_ticks
            assert limit is not None
            if book.crosses(order.side, limit):
                taken = book.take(order.side, order.remaining_lots, limit)
                crossed = sum(lots for _, lots in taken)
                self._fill(order, crossed, limit, Liquidity.MAKER, book.timestamp, executions)
            if order.status.is_open:
                key = (order.side, limit)
                ahead = own.get(key, 0)
                order.queue_ahead = min(order.queue_ahead, book.size_at(order.side, limit) + ahead)
                own[key] = ahead + order.remaining_lots
        self._activate_due(market, book.timestamp, executions)
        return executions

    def on_trade(
        self, symbol: str, ticks: int, lots: int, aggressor: Side, timestamp: datetime
    ) -> list[Execution]:
        """A trade print: consume the book, fill resting orders it reached, trigger stops."""
        if ticks <= 0 or lots <= 0:
            raise DomainError(
                f"a trade print needs a positive price and size, got {ticks} ticks x {lots} lots"
            )
        market = self._book_event(symbol, timestamp)
        market.book.print_trade(aggressor, ticks, lots)
        executions: list[Execution] = []
        for order in list(market.resting.values()):
            limit = order.limit_ticks
            assert limit is not None
            buy = order.side is Side.BUY
            if (ticks < limit) if buy else (ticks > limit):
                self._fill(
                    order, order.remaining_lots, limit, Liquidity.MAKER, timestamp, executions
                )
            elif ticks == limit and aggressor is not order.side:
                reach = lots - order.queue_ahead
                order.queue_ahead = max(0, -reach)
                if reach > 0:
                    fill = min(reach, order.remaining_lots)
                    self._fill(order, fill, limit, Liquidity.MAKER, timestamp, executions)
        self._trigger_stops(market, ticks, timestamp, executions)
        self._activate_due(market, timestamp, executions)
        return executions

    def on_mark(self, symbol: str, ticks: int, timestamp: datetime) -> list[Execution]:
        """A mark price: triggers stops only."""
        if ticks <= 0:
            raise DomainError(f"a mark price must be positive, got {ticks} ticks")
        market = self._book_event(symbol, timestamp)
        executions: list[Execution] = []
        self._trigger_stops(market, ticks, timestamp, executions)
        self._activate_due(market, timestamp, executions)
        return executions

    # -- market data: candle model -------------------------------------------------------------

    def on_candle(self, symbol: str, candle: Candle) -> list[Execution]:
        """Fill orders of an instrument without a book from one OHLC bar."""
        market = self._markets.get(symbol) or self._add_market(symbol)
        if market.model is FillModel.BOOK:
            raise DomainError(
                f"{symbol} fills from its order book; candles fill only instruments without one"
            )
        if market.last_event is not None and candle.start < market.last_event:
            raise DomainError(
                f"{symbol}: candle starting {candle.start} overlaps the previous one, which "
                f"ended {market.last_event}"
            )
        market.model = FillModel.CANDLES
        market.last_event = candle.end
        fraction = self._rules.max_volume_fraction
        room = None if fraction is None else int(DOMAIN_CONTEXT.multiply(candle.volume, fraction))
        bar = _Bar(candle, room)
        executions: list[Execution] = []
        for order in list(market.resting.values()):
            self._bar_limit(market, order, bar, executions)
        for order in list(market.stops.values()):
            self._bar_stop(market, order, bar, executions)
        while market.pending and _activation_key(market.pending[0])[0] <= candle.start:
            order = market.pending.pop(0)
            if order.order_type is OrderType.MARKET:
                self._bar_take(
                    order, self._slipped(candle.open, order.side), bar, candle.start, executions
                )
            elif order.order_type is OrderType.LIMIT:
                self._bar_new_limit(market, order, bar, executions)
            else:
                self._bar_stop(market, order, bar, executions)
        return executions

    # -- internals -----------------------------------------------------------------------------

    def _add_market(self, symbol: str) -> _Market:
        market = self._markets[symbol] = _Market(symbol)
        return market

    def _book_event(self, symbol: str, timestamp: datetime) -> _Market:
        """Check a book-model event is allowed and in time order, then mark the time."""
        market = self._markets.get(symbol) or self._add_market(symbol)
        if market.model is FillModel.CANDLES:
            raise DomainError(
                f"{symbol} fills from candles; it takes no book snapshots, trades or marks"
            )
        if market.last_event is not None and timestamp < market.last_event:
            raise DomainError(
                f"{symbol}: market data at {timestamp} is older than the last event at "
                f"{market.last_event}"
            )
        market.model = FillModel.BOOK
        market.last_event = timestamp
        return market

    def _open_order(self, order_id: str, action: str) -> EngineOrder:
        order = self._open.get(order_id)
        if order is None:
            raise DomainError(f"order {order_id} is not open; only an open order can be {action}")
        return order

    def _fill(
        self,
        order: EngineOrder,
        lots: int,
        ticks: int,
        liquidity: Liquidity,
        timestamp: datetime,
        out: list[Execution],
    ) -> None:
        if lots <= 0:
            return
        filled = order.filled_lots + lots
        if filled > order.lots:
            raise DomainError(f"order {order.order_id}: a fill of {lots} lots would overfill it")
        order.filled_lots = filled
        order.filled_notional += lots * ticks
        self._fill_count += 1
        out.append(
            Execution(
                f"{self._venue}-{self._fill_count}",
                order.order_id,
                order.symbol,
                order.side,
                lots,
                ticks,
                liquidity,
                timestamp,
            )
        )
        if filled == order.lots:
            order.move(OrderStatus.FILLED)
            self._retire(order)
        else:
            order.move(OrderStatus.PARTIALLY_FILLED)

    def _close(self, order: EngineOrder, status: OrderStatus, reason: str) -> None:
        """End an open order with a partial or no fill."""
        order.move(status, reason)
        market = self._markets[order.symbol]
        if order in market.pending:
            market.pending.remove(order)
        self._retire(order)

    def _retire(self, order: EngineOrder) -> None:
        del self._open[order.order_id]
        market = self._markets[order.symbol]
        market.resting.pop(order.order_id, None)
        market.stops.pop(order.order_id, None)

    def _activate_due(self, market: _Market, now: datetime, out: list[Execution]) -> None:
        pending = market.pending
        while pending and _activation_key(pending[0])[0] <= now:
            self._activate(market, pending.pop(0), now, out)

    def _activate(
        self, market: _Market, order: EngineOrder, now: datetime, out: list[Execution]
    ) -> None:
        if order.order_type is OrderType.MARKET:
            self._take_market(market, order, now, out)
        elif order.order_type is OrderType.LIMIT:
            self._enter_limit(market, order, now, out)
        else:
            market.stops[order.order_id] = order

    def _take_market(
        self, market: _Market, order: EngineOrder, now: datetime, out: list[Execution]
    ) -> None:
        side = order.side
        if order.time_in_force is TimeInForce.FOK:
            limit = 1 << 62 if side is Side.BUY else 1
            if market.book.depth(side, limit, order.remaining_lots) < order.remaining_lots:
                self._close(order, OrderStatus.EXPIRED, _EXPIRED_FOK)
                return
        for ticks, lots in market.book.take(side, order.remaining_lots):
            self._fill(order, lots, ticks, Liquidity.TAKER, now, out)
        if order.status.is_open:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_DEPTH)

    def _enter_limit(
        self, market: _Market, order: EngineOrder, now: datetime, out: list[Execution]
    ) -> None:
        """A limit order meets the book: take what crosses, then rest or expire the rest."""
        limit = order.limit_ticks
        assert limit is not None
        book, tif = market.book, order.time_in_force
        if tif is TimeInForce.FOK and book.depth(order.side, limit, order.remaining_lots) < (
            order.remaining_lots
        ):
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_FOK)
            return
        if book.crosses(order.side, limit):
            if tif is TimeInForce.POST_ONLY:
                self._close(order, OrderStatus.REJECTED, _POST_ONLY)
                return
            for ticks, lots in book.take(order.side, order.remaining_lots, limit):
                self._fill(order, lots, ticks, Liquidity.TAKER, now, out)
        if not order.status.is_open:
            return
        if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_IOC)
            return
        order.queue_ahead = book.size_at(order.side, limit) + market.own_lots_at(order)
        market.resting[order.order_id] = order

    def _trigger_stops(
        self, market: _Market, ticks: int, now: datetime, out: list[Execution]
    ) -> None:
        for order in list(market.stops.values()):
            stop = order.stop_ticks
            assert stop is not None
            if (ticks >= stop) if order.side is Side.BUY else (ticks <= stop):
                del market.stops[order.order_id]
                if order.order_type is OrderType.STOP_MARKET:
                    self._take_market(market, order, now, out)
                else:
                    self._enter_limit(market, order, now, out)

    def _slipped(self, ticks: int, side: Side) -> int:
        """A price moved against us by the candle slippage, rounded onto the grid against us."""
        if side is Side.BUY:
            return int(
                DOMAIN_CONTEXT.multiply(ticks, self._slip_up).to_integral_value(ROUND_CEILING)
            )
        return max(
            1, int(DOMAIN_CONTEXT.multiply(ticks, self._slip_down).to_integral_value(ROUND_FLOOR))
        )

    def _bar_take(
        self, order: EngineOrder, ticks: int, bar: _Bar, at: datetime, out: list[Execution]
    ) -> None:
        """Fill at ``ticks`` as taker, within the bar's cap; a market remainder expires."""
        if self._bar_fill(order, ticks, Liquidity.TAKER, bar, at, out) and order.status.is_open:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_VOLUME)

    def _bar_fill(
        self,
        order: EngineOrder,
        ticks: int,
        liquidity: Liquidity,
        bar: _Bar,
        at: datetime,
        out: list[Execution],
    ) -> bool:
        """Fill as much as the cap allows; False (and no fill) when FOK cannot fill at once."""
        lots = bar.allows(order.remaining_lots)
        if order.time_in_force is TimeInForce.FOK and lots < order.remaining_lots:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_FOK)
            return False
        if bar.room is not None:
            bar.room -= lots
        self._fill(order, lots, ticks, liquidity, at, out)
        return True

    def _bar_limit(
        self, market: _Market, order: EngineOrder, bar: _Bar, out: list[Execution]
    ) -> None:
        """A resting limit fills (maker) if the bar traded through it, at min(limit, open)."""
        limit = order.limit_ticks
        assert limit is not None
        candle = bar.candle
        touch = self._rules.touch_fills
        if order.side is Side.BUY:
            traded = candle.low < limit or (touch and candle.low == limit)
            ticks = min(limit, candle.open)
        else:
            traded = candle.high > limit or (touch and candle.high == limit)
            ticks = max(limit, candle.open)
        if traded:
            at = candle.start if ticks == candle.open else candle.end
            self._bar_fill(order, ticks, Liquidity.MAKER, bar, at, out)

    def _bar_new_limit(
        self, market: _Market, order: EngineOrder, bar: _Bar, out: list[Execution]
    ) -> None:
        """A limit order meets its first bar: marketable at the open takes there, else it
        rests and may fill inside the bar."""
        limit = order.limit_ticks
        assert limit is not None
        candle = bar.candle
        marketable = candle.open <= limit if order.side is Side.BUY else candle.open >= limit
        if marketable:
            if order.time_in_force is TimeInForce.POST_ONLY:
                self._close(order, OrderStatus.REJECTED, _POST_ONLY)
                return
            self._bar_fill(order, candle.open, Liquidity.TAKER, bar, candle.start, out)
        else:
            self._bar_limit(market, order, bar, out)
        self._bar_rest(market, order)

    def _bar_rest(self, market: _Market, order: EngineOrder) -> None:
        """What a candle limit order could not fill rests, unless its time in force ends."""
        if not order.status.is_open:
            return
        if order.time_in_force is TimeInForce.IOC:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_IOC)
        elif order.time_in_force is TimeInForce.FOK:
            self._close(order, OrderStatus.EXPIRED, _EXPIRED_FOK)
        else:
            market.resting[order.order_id] = order

    def _bar_stop(
        self, market: _Market, order: EngineOrder, bar: _Bar, out: list[Execution]
    ) -> None:
        stop = order.stop_ticks
        assert stop is not None
        candle = bar.candle
        if order.side is Side.BUY:
            hit, trigger = candle.high >= stop, max(stop, candle.open)
        else:
            hit, trigger = candle.low <= stop, min(stop, candle.open)
        if not hit:
            market.stops[order.order_id] = order
            return
        market.stops.pop(order.order_id, None)
        at = candle.start if trigger == candle.open else candle.end
        ticks = self._slipped(trigger, order.side)
        if order.order_type is OrderType.STOP_MARKET:
            self._bar_take(order, ticks, bar, at, out)
            return
        limit = order.limit_ticks
        assert limit is not None
        if order.side is Side.BUY and trigger <= limit:
            self._bar_fill(order, min(ticks, limit), Liquidity.TAKER, bar, at, out)
        elif order.side is Side.SELL and trigger >= limit:
            self._bar_fill(order, max(ticks, limit), Liquidity.TAKER, bar, at, out)
        self._bar_rest(market, order)
