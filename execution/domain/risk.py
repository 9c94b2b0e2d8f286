"""Pre-trade risk checks, pure: every failed check is returned, each with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from execution.domain.errors import RuleViolation
from execution.domain.orders import OrderRequest
from execution.domain.values import ZERO, exact, plain


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits of one account. Fractions are of equity; None means no limit."""

    min_order_quantity: Decimal | None = None
    max_order_quantity: Decimal | None = None
    max_order_value: Decimal | None = None
    max_price_deviation: Decimal = Decimal("0.05")
    daily_loss_limit: Decimal = Decimal("0.10")
    max_position_value: Decimal = Decimal("0.50")


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """What the checks need to know about the account and the instrument right now."""

    equity: Decimal
    available_balance: Decimal  # cash minus margin in use minus what open orders reserve
    start_of_day_equity: Decimal
    loss_limit_breached: bool  # already breached earlier today
    position_quantity: Decimal  # signed, in this instrument
    mid_price: Decimal | None
    taker_fee_rate: Decimal = ZERO
    # What the circuit breakers refuse to new risk now (a halt, the kill switch).
    breaker_refusals: tuple[RuleViolation, ...] = ()

    @property
    def daily_pnl(self) -> Decimal:
        return self.equity - self.start_of_day_equity


@dataclass(frozen=True, slots=True)
class RiskDecision:
    violations: list[RuleViolation]
    loss_limit_breached_now: bool  # the daily loss limit was first seen breached by this check

    @property
    def accepted(self) -> bool:
        return not self.violations


def daily_loss_breached(*, limit: Decimal, start_equity: Decimal, equity: Decimal) -> bool:
    """True once today's loss reaches ``limit`` (a fraction) of start-of-day equity."""
    with exact():
        return equity - start_equity <= -limit * start_equity


def check_order(request: OrderRequest, limits: RiskLimits, risk: AccountRisk) -> RiskDecision:
    """Run every pre-trade check on a valid order request."""
    failed: list[RuleViolation] = []

    def fail(rule: str, message: str) -> None:
        failed.append(RuleViolation(rule, message))

    qty = request.quantity
    if limits.min_order_quantity is not None and qty < limits.min_order_quantity:
        fail(
            "min_order_size",
            f"quantity {qty} is below the account's minimum order size {limits.min_order_quantity}",
        )
    if limits.max_order_quantity is not None and qty > limits.max_order_quantity:
        fail(
            "max_order_size",
            f"quantity {qty} is above the account's maximum order size {limits.max_order_quantity}",
        )

    with exact():
        signed = qty * request.side.sign
        position = risk.position_quantity
        # The part of the order that closes the current position carries no new risk.
        reducing = min(qty, abs(position)) if position and (position > 0) != (signed > 0) else ZERO
        opening = qty - reducing

        mid = risk.mid_price
        if mid is None:
            fail(
                "no_market_price",
                f"no market price for {request.symbol} yet, so the order's "
                "value and price deviation cannot be checked",
            )
            return RiskDecision(failed, False)
        order_price = request.price or request.stop_price or mid
        value = qty * order_price

        if limits.max_order_value is not None and value > limits.max_order_value:
            fail(
                "max_order_value",
                f"order value {plain(value)} is above the account's maximum order "
                f"value {plain(limits.max_order_value)}",
            )
        for label, level in (("price", request.price), ("stop price", request.stop_price)):
            if level is not None:
                deviation = abs(level - mid) / mid
                if deviation > limits.max_price_deviation:
                    fail(
                        "price_deviation",
                        f"{label} {plain(level)} is {deviation * 100:.2f}% from the "
                        f"mid {plain(mid)}, more than the "
                        f"{limits.max_price_deviation * 100:.2f}% allowed",
                    )

        if request.reduce_only and not reducing:
            fail(
                "reduce_only",
                f"a reduce-only {request.side} order cannot reduce a position of {plain(position)}",
            )
        elif request.reduce_only and opening:
            fail(
                "reduce_only",
                f"a reduce-only order of {plain(qty)} is larger than the position "
                f"{plain(abs(position))} it reduces",
            )

        breached_now = False
        if opening:
            failed.extend(risk.breaker_refusals)
            breached = risk.loss_limit_breached or daily_loss_breached(
                limit=limits.daily_loss_limit,
                start_equity=risk.start_of_day_equity,
                equity=risk.equity,
            )
            breached_now = breached and not risk.loss_limit_breached
            if breached:
                fail(
                    "daily_loss_limit",
                    f"today's loss {plain(-risk.daily_pnl)} reached the daily loss "
                    f"limit of {limits.daily_loss_limit * 100:.2f}% of start-of-day equity "
                    f"{plain(risk.start_of_day_equity)}; only orders that reduce risk are accepted "
                    "until the next UTC day",
                )
            new_position_value = abs(position + signed) * order_price
            cap = limits.max_position_value * risk.equity
            if new_position_value > cap:
                fail(
                    "max_position_value",
                    f"the position would be worth {plain(new_position_value)}, "
                    f"above {limits.max_position_value * 100:.2f}% of equity ({plain(cap)})",
                )
            needed = opening * order_price * (1 + risk.taker_fee_rate)
            if needed > risk.available_balance:
                fail(
                    "insufficient_balance",
                    f"the order needs {plain(needed)} of available balance, "
                    f"the account has {plain(risk.available_balance)}",
                )
    return RiskDecision(failed, breached_now)
