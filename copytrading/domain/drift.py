"""The copy-drift ledger: why a follower's result differs from the leader's on the trades it
copied. Pure: no Django; Decimal money.

Every copy leg is valued at one end price P per instrument (the mark at the period's end), so
realized and unrealized P&L are one number: a buy of q at p is worth q (P - p), a sell
-q (P - p), and a round trip's P terms cancel into its realized P&L. With s the side's sign,
L the leader's fill quantity at price pL with fee fL, q* the quantity the follower's terms
asked for (before lot rounding and limits), o the quantity ordered, q the quantity filled at
pF with fees fF, and k = q* / L the scale of the leader's trade into the follower's:

    leader (in the follower's terms) = s q* (P - pL) - k fL
    follower                          = s q  (P - pF) - fF
    follower - leader = s q (pL - pF)                 slippage: the follower's price against
                                                      the leader's, signed against the follower
                      + s (o - q*) (P - pL)           rounding: lot rounding and the follower's
                                                      limits, times the price move after it
                      + s (q - o) (P - pL)            unfilled: what the limit IOC did not fill
                      - (fF - k fL)                   fees: the follower's against the leader's
                                                      scaled
A skipped copy (no order) is a follower P&L of 0: all of -leader goes to "skipped", in the
leader's terms. A close the follower's stop made (no leader trade) is all "closes". The parts
add up to the difference exactly: the arithmetic is exact (60 digits), and the one rounded
amount, the leader's fee scaled (k fL, to the stored 1e-18), is the same on both sides. The
residual (difference less the parts) is reported all the same, as the check.

Latency (leader fill to follower fill) is reported as time only: no mark is stored at the
follower's fill time, so its price effect stays inside slippage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from execution.domain.values import ZERO, Side, exact, quantize

PARTS = ("slippage", "rounding", "unfilled", "skipped", "fees", "closes")


@dataclass(frozen=True, slots=True)
class CopyLeg:
    """One copy trade with what its leader fill and its follower order did."""

    side: Side
    end_price: Decimal  # P: the instrument's price at the period's end
    intended_quantity: Decimal  # q*
    ordered_quantity: Decimal  # o (0 when skipped)
    filled_quantity: Decimal  # q
    follower_price: Decimal | None  # pF, the average fill price (None when nothing filled)
    follower_fee: Decimal  # fF, in the quote currency
    leader_quantity: Decimal | None  # L (None for a join or a close: no leader fill)
    leader_price: Decimal | None  # pL (the mark on joining; None for a close)
    leader_fee: Decimal = ZERO  # fL, in the quote currency
    skipped: bool = False
    close: bool = False  # the follower's own close (stop, copy stop loss)
    leader_at: datetime | None = None
    follower_at: datetime | None = None


@dataclass(slots=True)
class DriftLedger:
    leader_pnl: Decimal = ZERO
    follower_pnl: Decimal = ZERO
    parts: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PARTS, ZERO))
    copies: int = 0
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, leader fill to follower fill

    @property
    def difference(self) -> Decimal:
        with exact():
            return self.follower_pnl - self.leader_pnl

    @property
    def residual(self) -> Decimal:
        with exact():
            return self.difference - sum(self.parts.values(), ZERO)

    def returns(self, capital: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """Leader's and follower's return on the subscription's capital."""
        if capital <= 0:
            return None, None
        with exact():
            return quantize(self.leader_pnl / capital), quantize(self.follower_pnl / capital)

    @property
    def latency_mean(self) -> float | None:
        return sum(self.latencies) / len(self.latencies) if self.latencies else None

    @property
    def latency_max(self) -> float | None:
        return max(self.latencies) if self.latencies else None


def drift_ledger(legs: Iterable[CopyLeg]) -> DriftLedger:
    """The ledger of these legs (see the module's docstring for the formulas)."""
    ledger = DriftLedger()
    parts = ledger.parts
    with exact():
        for leg in legs:
            s = leg.side.sign
            q, o, q_star = leg.filled_quantity, leg.ordered_quantity, leg.intended_quantity
            end = leg.end_price
            follower = ZERO
            if q and leg.follower_price is not None:
                follower = s * q * (end - leg.follower_price)
            follower -= leg.follower_fee
            if leg.close:
                ledger.follower_pnl += follower
                parts["closes"] += follower
                continue
            ledger.copies += 1
            price_l = leg.leader_price if leg.leader_price is not None else end
            scaled_fee = ZERO
            if leg.leader_quantity:
                scaled_fee = quantize(q_star * leg.leader_fee / leg.leader_quantity)
            leader = s * q_star * (end - price_l) - scaled_fee
            ledger.leader_pnl += leader
            ledger.follower_pnl += follower
            if leg.skipped:
                ledger.skipped += 1
                parts["skipped"] += follower - leader
                continue
            if q and leg.follower_price is not None:
                parts["slippage"] += s * q * (price_l - leg.follower_price)
            parts["rounding"] += s * (o - q_star) * (end - price_l)
            parts["unfilled"] += s * (q - o) * (end - price_l)
            parts["fees"] -= leg.follower_fee - scaled_fee
            if leg.leader_at is not None and leg.follower_at is not None:
                ledger.latencies.append((leg.follower_at - leg.leader_at).total_seconds())
    return ledger
