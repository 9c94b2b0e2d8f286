"""The parent order, its children, and the steps that move it on.

A parent order is worked by one algorithm through child orders. Everything the algorithm
knows is in the frozen ``ParentOrder``, which round-trips through JSON-friendly dicts, so the
live system keeps it in a database row and a restarted worker carries on where the last one
stopped. Each entry point (``Algorithm.start``, ``ParentOrder.on_tick``,
``ParentOrder.on_child_report``, ``ParentOrder.cancel``) returns a ``Step``: the next state
and the actions to carry out. Nothing here reads a clock or sends anything: the caller saves
the step's state, then carries out its actions, then feeds the venue's reports back.

Rules every algorithm keeps
- The children can never fill more than the parent: a working child counts at its full
  quantity until a report closes it, so a replacement waits for its predecessor's cancel.
- Child sizes respect the instrument: rounded down onto the lot, never below the minimum
  quantity or notional; what is too small to send is carried into a later child.
- A child is sent only into a two-sided book: its mid at sending is the arrival reference of
  the slippage breaker, and a one-sided book is no market to trade into. Until both sides are
  back the algorithm waits, and what was due stays due.
- The n-th child's client order id is ``{parent_id}c{n}``: derived from the state, so a step
  retried from the same state sends the same ids, and the venue refuses a repeat.
- Idempotent: a report already applied, or an older one, changes nothing; ``on_tick`` acts
  only on what is due, so a late or repeated call never sends twice.
- A child filled worse than its arrival mid by more than ``max_child_slippage_bps`` stops the
  parent, and so does a rejected child (retrying does not cure a rejection).
- Filled quantity, average price and status derive from the children. The parent records only
  when and why it ended; it is filled whenever its children's fills add up to its quantity,
  even through a late fill on a cancelled child.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from functools import cache
from typing import Any, ClassVar, TypeVar, get_type_hints

from execution.domain.algos.params import PARSERS, InvalidAlgoConfig, Parser, plain, require
from execution.domain.errors import DomainError
from execution.domain.orders import (
    CLIENT_ORDER_ID_MAX,
    TRANSITIONS,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution.domain.values import (
    ZERO,
    InstrumentSpec,
    Side,
    exact,
    quantize,
    to_decimal,
    to_positive,
)

JSONDict = dict[str, Any]

# A child's client order id is the parent id, "c" and the child's number: keep room for them.
_PARENT_ID = re.compile(rf"[A-Za-z0-9]{{1,{CLIENT_ORDER_ID_MAX - 12}}}")
_BPS = Decimal(10_000)


class ParentStatus(StrEnum):
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"  # on request
    EXPIRED = "expired"  # its time ran out with quantity left
    STOPPED = "stopped"  # it stopped itself: slippage breaker, rejection, unsendable remainder


@dataclass(frozen=True, slots=True)
class MarketView:
    """The market as an algorithm sees it at one moment. A side of the book may be missing
    (None); ``volume`` is what traded since the previous view, in base units."""

    timestamp: datetime
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_price: Decimal | None = None
    volume: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("best_bid", "best_ask", "last_price"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_positive(value, field=name.replace("_", " ")))
        volume = to_decimal(self.volume, field="volume")
        if volume < 0:
            raise DomainError(f"volume must not be negative, got {volume}")
        object.__setattr__(self, "volume", volume)
        bid, ask = self.best_bid, self.best_ask
        if bid is not None and ask is not None and bid >= ask:
            raise DomainError(f"crossed book: best bid {bid} is at or above best ask {ask}")

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        with exact():
            return (self.best_bid + self.best_ask) / 2

    def touch(self, side: Side) -> Decimal | None:
        """The best price on ``side``'s own side of the book, where a passive order joins."""
        return self.best_bid if side is Side.BUY else self.best_ask


@dataclass(frozen=True, slots=True)
class ChildReport:
    """A venue's word on one child, cumulative: what is filled so far and at what average."""

    client_order_id: str
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None = None

    def __post_init__(self) -> None:
        filled = to_decimal(self.filled_quantity, field="filled quantity")
        if filled < 0:
            raise DomainError(f"{self.client_order_id}: filled quantity {filled} is negative")
        if (self.average_price is None) != (filled == 0):
            raise DomainError(
                f"{self.client_order_id}: a report has an average price exactly when it has "
                f"fills (filled {filled}, average {self.average_price})"
            )
        object.__setattr__(self, "filled_quantity", filled)


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child as the parent knows it: what was sent, and the venue's latest word on it."""

    client_order_id: str
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    sent_at: datetime
    arrival_mid: Decimal  # the slippage breaker's reference
    market_volume: Decimal  # market volume the parent had seen when this child was sent
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: Decimal = ZERO
    average_price: Decimal | None = None
    cancel_requested_at: datetime | None = None

    @property
    def is_working(self) -> bool:
        return self.status.is_open

    @property
    def committed_quantity(self) -> Decimal:
        """The most this child can end up filling."""
        return self.quantity if self.is_working else self.filled_quantity

    def updated(self, report: ChildReport) -> ChildOrder:
        """The child after a report; itself when the report is a repeat or older news."""
        filled = report.filled_quantity
        if filled > self.quantity:
            raise DomainError(
                f"{self.client_order_id}: reported filled {filled}, above its quantity "
                f"{self.quantity}"
            )
        if filled < self.filled_quantity:
            return self
        status = report.status if report.status in TRANSITIONS[self.status] else self.status
        if status is self.status and filled == self.filled_quantity:
            return self
        average = report.average_price if filled else None
        return replace(self, status=status, filled_quantity=filled, average_price=average)

    def to_dict(self) -> JSONDict:
        return {
            "client_order_id": self.client_order_id,
            "order_type": self.order_type.value,
            "quantity": str(self.quantity),
            "price": _text(self.price),
            "sent_at": self.sent_at.isoformat(),
            "arrival_mid": str(self.arrival_mid),
            "market_volume": str(self.market_volume),
            "status": self.status.value,
            "filled_quantity": str(self.filled_quantity),
            "average_price": _text(self.average_price),
            "cancel_requested_at": _time_text(self.cancel_requested_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChildOrder:
        return cls(
            client_order_id=data["client_order_id"],
            order_type=OrderType(data["order_type"]),
            quantity=Decimal(data["quantity"]),
            price=_decimal_or_none(data["price"]),
            sent_at=datetime.fromisoformat(data["sent_at"]),
            arrival_mid=Decimal(data["arrival_mid"]),
            market_volume=Decimal(data["market_volume"]),
            status=OrderStatus(data["status"]),
            filled_quantity=Decimal(data["filled_quantity"]),
            average_price=_decimal_or_none(data["average_price"]),
            cancel_requested_at=_time_or_none(data["cancel_requested_at"]),
        )


@dataclass(frozen=True, slots=True)
class PlaceChild:
    client_order_id: str
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class CancelChild:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The parent is over: nothing more will be sent (late fills on children still count)."""

    status: ParentStatus
    reason: str


Action = PlaceChild | CancelChild | Finish
Plan = tuple["ParentOrder", tuple[Action, ...]]


@dataclass(frozen=True, slots=True)
class Step:
    """The parent's next state and the actions to carry out, in order, after saving it."""

    parent: ParentOrder
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Ending:
    """When and why the parent stopped sending children."""

    status: ParentStatus
    reason: str
    at: datetime


# -- algorithms ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Algorithm(ABC):
    """An execution algorithm's parameters and its decisions, as pure functions of the parent.

    Construction parses and validates every parameter (``InvalidAlgoConfig`` names the bad
    one); ``algorithm_from_config`` builds one from a kind and plain values.
    """

    kind: ClassVar[str]
    max_child_slippage_bps: Decimal = Decimal(50)

    def __post_init__(self) -> None:
        for name, parse in _parsers(type(self)).items():
            object.__setattr__(self, name, parse(getattr(self, name), name))
        self.validate()

    def validate(self) -> None:
        bps = self.max_child_slippage_bps
        require(
            bps >= 0, "max_child_slippage_bps", f"max_child_slippage_bps must be >= 0, got {bps}"
        )

    def params(self) -> JSONDict:
        """The parameters in the plain form ``algorithm_from_config`` reads back."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def fixed_prices(self) -> tuple[Decimal, ...]:
        """Prices given in the parameters, which must be on the instrument's tick."""
        return ()

    def start(
        self,
        *,
        parent_id: str,
        spec: InstrumentSpec,
        side: Side,
        quantity: Decimal,
        now: datetime,
        market: MarketView,
    ) -> Step:
        """Begin working a parent order; the first children may go out at once."""
        if not _PARENT_ID.fullmatch(parent_id):
            raise DomainError(
                f"parent id {parent_id!r} must be 1 to 20 letters and digits: its children's "
                "client order ids add a suffix and must stay within 32 letters and digits"
            )
        for price in self.fixed_prices():
            spec.check_price(price)
        parent = ParentOrder(
            parent_id=parent_id,
            spec=spec,
            side=side,
            quantity=spec.check_quantity(quantity),
            algorithm=self,
            started_at=now,
            last_view_at=market.timestamp,  # volume before the start is not ours to follow
        )
        return parent.on_tick(now, market)

    @abstractmethod
    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        """Do whatever is due at ``now``; nothing when nothing is due."""

    @abstractmethod
    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        """When ``decide`` next has something to do without a new report; None: only on new
        market data or a report."""

    @abstractmethod
    def exhausted(self, parent: ParentOrder) -> str | None:
        """Why nothing more will be sent, once no child is working; None while more may be."""


@cache
def _parsers(kind: type[Algorithm]) -> dict[str, Parser]:
    hints = get_type_hints(kind)
    return {f.name: PARSERS[hints[f.name]] for f in dataclasses.fields(kind)}


A = TypeVar("A", bound=Algorithm)
_ALGORITHMS: dict[str, type[Algorithm]] = {}


def register(kind: type[A]) -> type[A]:
    """Make an algorithm known to ``algorithm_from_config`` and ``ParentOrder.from_dict``."""
    _ALGORITHMS[kind.kind] = kind
    return kind


def algorithm_from_config(kind: str, params: Mapping[str, Any]) -> Algorithm:
    """Build an algorithm from its kind and plain parameters, refusing anything unknown."""
    algorithm = _ALGORITHMS.get(kind)
    if algorithm is None:
        known = ", ".join(sorted(_ALGORITHMS))
        raise InvalidAlgoConfig("kind", f"unknown algorithm {kind!r}; known: {known}")
    fields = {f.name: f for f in dataclasses.fields(algorithm)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise InvalidAlgoConfig(
            unknown[0],
            f"{kind} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(fields)}",
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in params
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InvalidAlgoConfig(missing[0], f"{kind} needs {', '.join(map(repr, missing))}")
    return algorithm(**params)


# -- the parent order ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParentOrder:
    """A parent order being worked by an algorithm, and all the algorithm knows of it."""

    parent_id: str
    spec: InstrumentSpec
    side: Side
    quantity: Decimal
    algorithm: Algorithm
    started_at: datetime
    next_due_at: datetime | None = None
    decision: int = 0  # scheduled decisions taken so far (algorithms with a schedule)
    market_volume: Decimal = ZERO  # traded in the market since the start, as the views said
    last_view_at: datetime | None = None  # a view no newer than this adds no volume
    children: tuple[ChildOrder, ...] = ()
    ending: Ending | None = None

    # -- derived from the children ---------------------------------------------------------

    @property
    def filled_quantity(self) -> Decimal:
        with exact():
            return sum((child.filled_quantity for child in self.children), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_quantity
        if not filled:
            return None
        with exact():
            notional = sum((self._notional(child) for child in self.children), ZERO)
            return quantize(notional / filled)

    @property
    def status(self) -> ParentStatus:
        filled = self.filled_quantity
        if filled == self.quantity:
            return ParentStatus.FILLED
        if self.ending is not None:
            return self.ending.status
        return ParentStatus.PARTIALLY_FILLED if filled else ParentStatus.WORKING

    @property
    def working_children(self) -> tuple[ChildOrder, ...]:
        return tuple(child for child in self.children if child.is_working)

    @property
    def committed_quantity(self) -> Decimal:
        """What the children have filled, plus the most the working ones may still fill."""
        with exact():
            return sum((child.committed_quantity for child in self.children), ZERO)

    @property
    def remaining_quantity(self) -> Decimal:
        with exact():
            return self.quantity - self.filled_quantity

    # -- entry points ----------------------------------------------------------------------

    def on_tick(self, now: datetime, market: MarketView) -> Step:
        """New market data or a scheduler's call: do whatever is due at ``now``."""
        if self.ending is not None:
            return Step(self)
        parent = self
        if self.last_view_at is None or market.timestamp > self.last_view_at:
            with exact():
                volume = self.market_volume + market.volume
            parent = replace(self, market_volume=volume, last_view_at=market.timestamp)
        parent, actions = self.algorithm.decide(parent, now, market)
        return parent._settled(now, actions)

    def on_child_report(self, report: ChildReport, now: datetime) -> Step:
        """Apply a venue report on one child (repeats and older news change nothing)."""
        index = next(
            (i for i, c in enumerate(self.children) if c.client_order_id == report.client_order_id),
            None,
        )
        if index is None:
            raise DomainError(
                f"{report.client_order_id} is not a child of parent order {self.parent_id}"
            )
        child = self.children[index]
        updated = child.updated(report)
        if updated == child:
            return Step(self)
        children = (*self.children[:index], updated, *self.children[index + 1 :])
        parent = replace(self, children=children)
        if parent.ending is not None:
            return Step(parent)
        if updated.status is OrderStatus.REJECTED:
            reason = f"child {updated.client_order_id} was rejected by the venue"
            return Step(*parent.end(ParentStatus.STOPPED, reason, now))
        if updated.filled_quantity > child.filled_quantity:
            breach = parent._slippage_breach(updated)
            if breach is not None:
                return Step(*parent.end(ParentStatus.STOPPED, breach, now))
        return parent._settled(now, ())

    def cancel(self, now: datetime, reason: str = "cancelled on request") -> Step:
        """Stop the parent: cancel its working children and send nothing more."""
        if self.ending is not None:
            return Step(self)
        return Step(*self.end(ParentStatus.CANCELLED, reason, now))

    # -- building blocks for algorithms ------------------------------------------------------

    def lots_of(self, fraction: Fraction) -> Decimal:
        """That fraction of the parent quantity, rounded down onto the lot (exactly)."""
        lot = self.spec.lot_size
        lots = Fraction(self.quantity) * fraction // Fraction(lot)
        with exact():
            return lots * lot

    def child_size(self, quantity: Decimal, price: Decimal) -> Decimal | None:
        """``quantity`` rounded down onto the lot, or None when that is below the instrument's
        minimum quantity or notional at ``price``. A rest too small to send on its own later
        is taken along: a parent must never be left with a remainder no child can carry."""
        size: Decimal = self.spec.round_quantity(quantity)
        if size <= 0 or self.too_small(size, price) is not None:
            return None
        with exact():
            rest = self.spec.round_quantity(self.quantity - self.committed_quantity - size)
            if 0 < rest < self.smallest_child(price):
                size += rest
        return size

    def too_small(self, quantity: Decimal, price: Decimal) -> str | None:
        """Why the instrument refuses a child of ``quantity`` at ``price``; None if it does not."""
        spec = self.spec
        if quantity < spec.min_quantity:
            return f"{quantity} is below {spec.symbol}'s minimum quantity {spec.min_quantity}"
        with exact():
            notional = quantity * price
        if notional < spec.min_notional:
            return (
                f"{quantity} at {price} is worth {notional} {spec.quote}, below "
                f"{spec.symbol}'s minimum notional {spec.min_notional} {spec.quote}"
            )
        return None

    def smallest_child(self, price: Decimal) -> Decimal:
        """The smallest quantity on the lot the instrument accepts at ``price``."""
        spec = self.spec
        with exact():
            least = max(spec.min_quantity, spec.min_notional / price)
        return round_up_to_lot(spec, least)

    def place(
        self,
        now: datetime,
        market: MarketView,
        quantity: Decimal,
        price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> tuple[ParentOrder, PlaceChild]:
        """Send a child: a limit order at ``price``, or a market order without one."""
        mid = market.mid
        assert mid is not None, "children are sent only into a two-sided book"
        client_order_id = f"{self.parent_id}c{len(self.children) + 1}"
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        request = OrderRequest.build(
            self.spec,
            side=self.side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            time_in_force=time_in_force,
            reference_price=mid,
        )
        child = ChildOrder(
            client_order_id=client_order_id,
            order_type=order_type,
            quantity=request.quantity,
            price=request.price,
            sent_at=now,
            arrival_mid=mid,
            market_volume=self.market_volume,
        )
        parent = replace(self, children=(*self.children, child))
        return parent, PlaceChild(client_order_id, request)

    def cancel_working(self, now: datetime) -> Plan:
        """Ask to cancel every working child not already asked; the parent keeps counting
        them as working until their reports say otherwise."""
        actions: list[Action] = []
        children = []
        for child in self.children:
            if child.is_working and child.cancel_requested_at is None:
                child = replace(child, cancel_requested_at=now)
                actions.append(CancelChild(child.client_order_id))
            children.append(child)
        if not actions:
            return self, ()
        return replace(self, children=tuple(children)), tuple(actions)

    def close_with_market(self, now: datetime, market: MarketView) -> Plan:
        """Send all that is left as one market order (no child may be working), or stop when
        the instrument refuses a child that small."""
        mid = market.mid
        assert mid is not None and not self.working_children
        remaining = self.remaining_quantity
        size = self.child_size(remaining, mid)
        if size is None:
            reason = f"the remaining {self.too_small(remaining, mid)}: no child can carry it"
            return self.end(ParentStatus.STOPPED, reason, now)
        parent, place = self.place(now, market, size)
        return parent, (place,)

    def end(self, status: ParentStatus, reason: str, now: datetime) -> Plan:
        """Send nothing more: cancel working children, and say why."""
        parent, cancels = self.cancel_working(now)
        parent = replace(parent, ending=Ending(status, reason, now), next_due_at=None)
        return parent, (*cancels, Finish(status, reason))

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> JSONDict:
        """The whole state in JSON-friendly form: Decimals as strings, times in ISO 8601."""
        spec = self.spec
        return {
            "parent_id": self.parent_id,
            "spec": {
                "symbol": spec.symbol,
                "base": spec.base,
                "quote": spec.quote,
                "tick_size": str(spec.tick_size),
                "lot_size": str(spec.lot_size),
                "min_quantity": str(spec.min_quantity),
                "min_notional": str(spec.min_notional),
            },
            "side": self.side.value,
            "quantity": str(self.quantity),
            "algorithm": {"kind": self.algorithm.kind, "params": self.algorithm.params()},
            "started_at": self.started_at.isoformat(),
            "next_due_at": _time_text(self.next_due_at),
            "decision": self.decision,
            "market_volume": str(self.market_volume),
            "last_view_at": _time_text(self.last_view_at),
            "children": [child.to_dict() for child in self.children],
            "ending": None
            if self.ending is None
            else {
                "status": self.ending.status.value,
                "reason": self.ending.reason,
                "at": self.ending.at.isoformat(),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParentOrder:
        spec = data["spec"]
        ending = data["ending"]
        return cls(
            parent_id=data["parent_id"],
            spec=InstrumentSpec(
                symbol=spec["symbol"],
                base=spec["base"],
                quote=spec["quote"],
                tick_size=Decimal(spec["tick_size"]),
                lot_size=Decimal(spec["lot_size"]),
                min_quantity=Decimal(spec["min_quantity"]),
                min_notional=Decimal(spec["min_notional"]),
            ),
            side=Side(data["side"]),
            quantity=Decimal(data["quantity"]),
            algorithm=algorithm_from_config(data["algorithm"]["kind"], data["algorithm"]["params"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            next_due_at=_time_or_none(data["next_due_at"]),
            decision=data["decision"],
            market_volume=Decimal(data["market_volume"]),
            last_view_at=_time_or_none(data["last_view_at"]),
            children=tuple(ChildOrder.from_dict(child) for child in data["children"]),
            ending=None
            if ending is None
            else Ending(
                ParentStatus(ending["status"]),
                ending["reason"],
                datetime.fromisoformat(ending["at"]),
            ),
        )

    # -- internals -------------------------------------------------------------------------

    def _notional(self, child: ChildOrder) -> Decimal:
        if child.average_price is None:
            return ZERO
        with exact():
            grid = self.spec.tick_size * self.spec.lot_size
            notional = child.filled_quantity * child.average_price
            # Fills are on the tick grid, so a child's notional is a multiple of tick x lot;
            # snapping to it undoes the rounding of a venue's (18-place) average price.
            return (notional / grid).to_integral_value() * grid

    def _slippage_breach(self, child: ChildOrder) -> str | None:
        assert child.average_price is not None
        limit = self.algorithm.max_child_slippage_bps
        with exact():
            worse = (child.average_price - child.arrival_mid) * self.side.sign
            bps = worse / child.arrival_mid * _BPS
        if bps <= limit:
            return None
        return (
            f"slippage breaker: child {child.client_order_id} filled at an average "
            f"{child.average_price}, {bps.quantize(Decimal('0.01'))} bps worse than its arrival "
            f"mid {child.arrival_mid}, beyond max_child_slippage_bps {limit}"
        )

    def _settled(self, now: datetime, actions: tuple[Action, ...]) -> Step:
        """End the parent once it is filled or can do no more; else note when it is due."""
        if self.ending is not None:
            return Step(self, actions)
        ending = self._ending_now()
        if ending is not None:
            parent, more = self.end(*ending, now)
            return Step(parent, actions + more)
        due = self.algorithm.next_due(self, now)
        return Step(replace(self, next_due_at=due), actions)

    def _ending_now(self) -> tuple[ParentStatus, str] | None:
        filled = self.filled_quantity
        if filled == self.quantity:
            return ParentStatus.FILLED, f"filled {filled} at an average {self.average_price}"
        if self.working_children:
            return None
        remaining = self.remaining_quantity
        spec = self.spec
        sendable = spec.round_quantity(remaining)
        if sendable == 0 or sendable < spec.min_quantity:
            return ParentStatus.STOPPED, (
                f"the remaining {remaining} is below {spec.symbol}'s minimum quantity "
                f"{max(spec.min_quantity, spec.lot_size)}: no child can carry it"
            )
        reason = self.algorithm.exhausted(self)
        return None if reason is None else (ParentStatus.EXPIRED, reason)


def improved_touch(parent: ParentOrder, touch: Decimal, offset: Decimal) -> Decimal:
    """The touch on the parent's own side moved ``offset`` (a fraction) toward the other
    side, rounded onto the tick on the passive side (a buy down, a sell up)."""
    with exact():
        price = touch * (1 + offset * parent.side.sign)
    return parent.spec.round_price(price, parent.side)


def round_up_to_lot(spec: InstrumentSpec, quantity: Decimal) -> Decimal:
    """The smallest positive multiple of the lot at or above ``quantity``."""
    with exact():
        lots = max(Decimal(1), (quantity / spec.lot_size).to_integral_value(ROUND_UP))
        return lots * spec.lot_size


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _decimal_or_none(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
