"""How one leader fill becomes one follower order: pure rules, no Django.

A leader fill has a closing part (it reduces the leader's position) and an opening part (the
rest, a flip or an increase). The follower closes the same fraction of the quantity it copied
(never more than it copied or holds) and opens by its mode, within its limits, rounded down to
the lot. The order is a limit IOC at the leader's fill price plus or minus the slippage cap,
rounded onto the tick grid on the passive side, so it never pays more than the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from copytrading.domain.terms import HUNDRED, CopyMode, CopyTerms
from execution.domain.values import ZERO, InstrumentSpec, Side, exact, plain

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class LeaderFill:
    side: Side
    quantity: Decimal
    price: Decimal
    position_before: Decimal  # the leader's signed position in the instrument before the fill
    leader_equity: Decimal  # the leader account's equity: the base of percent mode


@dataclass(frozen=True, slots=True)
class FollowerState:
    capital: Decimal  # the subscription's capital (allocation of equity, capped)
    copied_quantity: Decimal  # signed quantity this subscription copied and still holds
    position_quantity: Decimal  # the follower account's signed position in the instrument
    open_blocked: str = ""  # why no new risk may be copied now (daily loss limit), if so


@dataclass(frozen=True, slots=True)
class CopyPlan:
    side: Side
    quantity: Decimal  # to order; zero when skipped
    intended_quantity: Decimal  # before lot rounding and limits
    limit_price: Decimal
    reduce_only: bool  # a pure close: the venue refuses it if it would open anything
    skipped_reason: str = ""

    @property
    def skipped(self) -> bool:
        return bool(self.skipped_reason)


def subscription_capital(
    *, equity: Decimal, allocation_percent: Decimal, capital_cap: Decimal | None
) -> Decimal:
    """The part of the follower account's equity the subscription trades with."""
    with exact():
        capital = max(equity, ZERO) * allocation_percent / HUNDRED
    return capital if capital_cap is None else min(capital, capital_cap)


def limit_price(spec: InstrumentSpec, side: Side, price: Decimal, slippage_bps: int) -> Decimal:
    """The leader's price moved against the follower by at most the cap, on the tick grid."""
    with exact():
        capped = price * (1 + side.sign * Decimal(slippage_bps) / BPS)
    rounded: Decimal = spec.round_price(capped, side)
    if rounded <= 0:  # a sell capped below one tick
        rounded = spec.tick_size
    return rounded


def _same_direction(a: Decimal, b: Decimal) -> bool:
    return (a > 0 and b > 0) or (a < 0 and b < 0)


def closing_quantity(fill: LeaderFill, follower: FollowerState, spec: InstrumentSpec) -> Decimal:
    """What the follower closes: the leader's closed fraction of the copied quantity."""
    before = fill.position_before
    if not before or _same_direction(before, Decimal(fill.side.sign)):
        return ZERO  # the leader opened or added: nothing closes
    copied = follower.copied_quantity
    if not _same_direction(copied, before):
        return ZERO  # nothing copied in the leader's direction
    held = (
        abs(follower.position_quantity)
        if _same_direction(follower.position_quantity, copied)
        else ZERO
    )
    with exact():
        leader_closed = min(fill.quantity, abs(before))
        if leader_closed == abs(before):
            wanted = abs(copied)  # a full close closes all of it, whatever the rounding
        else:
            wanted = spec.round_quantity(abs(copied) * leader_closed / abs(before))
    return min(wanted, abs(copied), held)


def opening_quantity(
    fill: LeaderFill, follower: FollowerState, terms: CopyTerms, spec: InstrumentSpec
) -> tuple[Decimal, Decimal]:
    """(intended, allowed): the opening part sized by mode, then within the limits and lot."""
    before = fill.position_before
    with exact():
        closed = (
            min(fill.quantity, abs(before))
            if before and not _same_direction(before, Decimal(fill.side.sign))
            else ZERO
        )
        leader_open = fill.quantity - closed
        if leader_open <= 0:
            return ZERO, ZERO
        if terms.mode is CopyMode.PERCENT:
            if fill.leader_equity <= 0:
                return ZERO, ZERO
            intended = leader_open * follower.capital / fill.leader_equity * terms.copy_ratio
        elif terms.mode is CopyMode.FIXED_RATIO:
            intended = leader_open * terms.copy_ratio
        else:
            assert terms.fixed_amount is not None
            intended = terms.fixed_amount / fill.price
        allowed = intended
        if terms.max_trade_value is not None:
            allowed = min(allowed, terms.max_trade_value / fill.price)
        if terms.max_position_value is not None:
            # The copied quantity left in the new direction after the closing part.
            left = (
                abs(follower.copied_quantity)
                if _same_direction(follower.copied_quantity, Decimal(fill.side.sign))
                else ZERO
            )
            room = terms.max_position_value / fill.price - left
            allowed = min(allowed, max(room, ZERO))
    return intended, spec.round_quantity(allowed)


def plan_copy(
    fill: LeaderFill, follower: FollowerState, terms: CopyTerms, spec: InstrumentSpec
) -> CopyPlan:
    """The follower's order for one leader fill, or the reason there is none."""
    price = limit_price(spec, fill.side, fill.price, terms.slippage_bps)
    closing = closing_quantity(fill, follower, spec)
    intended_open, opening = opening_quantity(fill, follower, terms, spec)
    reason = ""
    if opening and follower.open_blocked:
        reason, opening = follower.open_blocked, ZERO
    with exact():
        quantity = closing + opening
        intended = closing + intended_open

    def skip(why: str) -> CopyPlan:
        return CopyPlan(fill.side, ZERO, intended, price, False, why)

    if not quantity:
        if reason:
            return skip(reason)
        if intended:
            return skip(
                f"the copied quantity {plain(intended)} rounds down to zero lots of "
                f"{plain(spec.lot_size)} within the subscription's limits"
            )
        return skip("nothing to copy: the leader closed a position this subscription does not hold")
    if quantity < spec.min_quantity:
        return skip(
            f"quantity {plain(quantity)} is below {spec.symbol}'s minimum quantity "
            f"{plain(spec.min_quantity)}"
        )
    with exact():
        notional = quantity * price
    if notional < spec.min_notional:
        return skip(
            f"order value {plain(notional)} {spec.quote} is below {spec.symbol}'s minimum "
            f"notional {plain(spec.min_notional)} {spec.quote}"
        )
    return CopyPlan(fill.side, quantity, intended, price, reduce_only=not opening)


def copy_stop_loss_hit(*, peak: Decimal, equity: Decimal, percent: Decimal) -> bool:
    """True once the subscription's equity fell ``percent`` or more from its peak."""
    if peak <= 0:
        return False
    with exact():
        return equity <= peak * (1 - percent / HUNDRED)


def daily_loss_hit(*, day_start: Decimal, equity: Decimal, percent: Decimal | None) -> bool:
    if percent is None or day_start <= 0:
        return False
    with exact():
        return equity - day_start <= -day_start * percent / HUNDRED


def exit_prices(
    spec: InstrumentSpec,
    *,
    long: bool,
    entry: Decimal,
    stop_loss_percent: Decimal | None,
    take_profit_percent: Decimal | None,
) -> tuple[Decimal | None, Decimal | None]:
    """A copied position's stop loss and take profit, each on the tick grid on the safe side
    (a long's stop rounds up, nearer the entry; its target rounds down)."""
    sign = 1 if long else -1
    stop = target = None
    with exact():
        if stop_loss_percent is not None:
            raw = entry * (1 - sign * stop_loss_percent / HUNDRED)
            stop = spec.round_price(raw, Side.SELL if long else Side.BUY)
            stop = stop if stop > 0 else None
        if take_profit_percent is not None:
            raw = entry * (1 + sign * take_profit_percent / HUNDRED)
            target = spec.round_price(raw, Side.BUY if long else Side.SELL)
            target = target if target > 0 else None
    return stop, target
