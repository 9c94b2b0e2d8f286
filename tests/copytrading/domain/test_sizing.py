"""The sizing rules without a database."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from copytrading.domain.sizing import (
    FollowerState,
    LeaderFill,
    copy_stop_loss_hit,
    exit_prices,
    limit_price,
    plan_copy,
    subscription_capital,
)
from copytrading.domain.terms import CopyMode, CopyTerms, InvalidCopyTerms
from execution.domain.values import InstrumentSpec, Side

BTC = InstrumentSpec("BTC-USDT", "BTC", "USDT", D("0.1"), D("0.0001"), D("0.0001"), D(5))


def buy(quantity: str, *, before: str = "0", price: str = "20000") -> LeaderFill:
    return LeaderFill(Side.BUY, D(quantity), D(price), D(before), D(100_000))


def sell(quantity: str, *, before: str, price: str = "20000") -> LeaderFill:
    return LeaderFill(Side.SELL, D(quantity), D(price), D(before), D(100_000))


def follower(capital: str = "5000", copied: str = "0", position: str | None = None):
    return FollowerState(D(capital), D(copied), D(position if position is not None else copied))


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (CopyTerms(), "0.05"),  # 1 BTC x 5,000 / 100,000
        (CopyTerms(copy_ratio=D(2)), "0.1"),
        (CopyTerms(mode=CopyMode.FIXED_RATIO, copy_ratio=D("0.25")), "0.25"),
        (CopyTerms(mode=CopyMode.FIXED_AMOUNT, fixed_amount=D(1000)), "0.05"),
        (CopyTerms(max_trade_value=D(500)), "0.025"),
        (CopyTerms(max_position_value=D(300)), "0.015"),
    ],
)
def test_opening_quantity_by_mode_and_limits(terms, expected):
    plan = plan_copy(buy("1"), follower(), terms, BTC)
    assert plan.quantity == D(expected)
    assert not plan.reduce_only and plan.side is Side.BUY


def test_rounds_down_to_the_lot_and_skips_under_min_notional_with_a_reason():
    plan = plan_copy(buy("0.00333"), follower(), CopyTerms(), BTC)
    assert plan.quantity == 0 and plan.skipped
    assert "minimum" in plan.skipped_reason or "rounds down" in plan.skipped_reason
    assert plan_copy(buy("0.123456"), follower(), CopyTerms(), BTC).quantity == D("0.0061")


def test_a_full_leader_close_closes_all_copied_and_never_more_than_held():
    assert plan_copy(
        sell("1", before="1"), follower(copied="0.05"), CopyTerms(), BTC
    ).quantity == D("0.05")
    held_less = plan_copy(
        sell("1", before="1"), follower(copied="0.05", position="0.02"), CopyTerms(), BTC
    )
    assert held_less.quantity == D("0.02") and held_less.reduce_only
    half = plan_copy(sell("0.5", before="1"), follower(copied="0.05"), CopyTerms(), BTC)
    assert half.quantity == D("0.025") and half.reduce_only


def test_a_flip_closes_the_copy_and_opens_by_the_mode():
    plan = plan_copy(sell("2", before="1"), follower(copied="0.05"), CopyTerms(), BTC)
    assert plan.quantity == D("0.1") and not plan.reduce_only  # 0.05 closed + 0.05 opened


def test_a_close_of_something_not_copied_is_skipped():
    plan = plan_copy(sell("1", before="1"), follower(), CopyTerms(), BTC)
    assert plan.skipped and "does not hold" in plan.skipped_reason


def test_open_blocked_still_copies_closes():
    blocked = FollowerState(D(5000), D("0.05"), D("0.05"), open_blocked="daily loss limit")
    assert plan_copy(buy("1", before="1"), blocked, CopyTerms(), BTC).skipped_reason == (
        "daily loss limit"
    )
    assert plan_copy(sell("1", before="1"), blocked, CopyTerms(), BTC).quantity == D("0.05")


@given(
    copied=st.decimals(min_value=D("0.0001"), max_value=D(10), places=4),
    held=st.decimals(min_value=D(0), max_value=D(10), places=4),
    before=st.decimals(min_value=D("0.001"), max_value=D(100), places=3),
    closed=st.decimals(min_value=D("0.001"), max_value=D(100), places=3),
)
def test_a_pure_close_never_exceeds_what_is_copied_or_held(copied, held, before, closed):
    plan = plan_copy(
        sell(str(min(closed, before)), before=str(before)),
        FollowerState(D(5000), copied, held),
        CopyTerms(),
        BTC,
    )
    assert plan.quantity <= min(copied, held)


def test_limit_price_is_capped_on_the_tick_grid_against_the_follower():
    assert limit_price(BTC, Side.BUY, D("20000"), 50) == D("20100")
    assert limit_price(BTC, Side.SELL, D("20000.3"), 7) == D("19986.3")  # 19986.29979 up
    assert limit_price(BTC, Side.BUY, D("20000.3"), 7) == D("20014.3")  # 20014.30021 down


def test_capital_and_copy_stop_loss():
    assert subscription_capital(equity=D(10_000), allocation_percent=D(35), capital_cap=None) == D(
        3500
    )
    assert subscription_capital(
        equity=D(10_000), allocation_percent=D(35), capital_cap=D(1000)
    ) == D(1000)
    assert copy_stop_loss_hit(peak=D(100), equity=D(60), percent=D(40))
    assert not copy_stop_loss_hit(peak=D(100), equity=D("60.01"), percent=D(40))


def test_exit_prices_round_to_the_safe_side():
    stop, target = exit_prices(
        BTC, long=True, entry=D("20000.1"), stop_loss_percent=D(5), take_profit_percent=D(10)
    )
    assert stop == D("19000.1") and target == D("22000.1")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"allocation_percent": "0"}, "allocation_percent"),
        ({"allocation_percent": "100.01"}, "allocation_percent"),
        ({"capital_cap": "-5"}, "capital_cap"),
        ({"mode": "fixed_amount"}, "fixed_amount"),
        ({"mode": "everything"}, "mode"),
        ({"slippage_bps": 5000}, "slippage_bps"),
        ({"copy_ratio": 1.5}, "copy_ratio"),
        ({"leverage": "3"}, "leverage"),
    ],
)
def test_bad_terms_are_refused_by_field(raw, field):
    with pytest.raises(InvalidCopyTerms) as refused:
        CopyTerms.parse(raw)
    assert field in refused.value.errors
