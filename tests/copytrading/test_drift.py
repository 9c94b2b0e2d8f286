"""The copy-drift ledger: a hand-computed scenario (pure), and a real copy whose parts add up
to the difference between the follower's and the leader's P&L."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from copytrading.domain.drift import CopyLeg, drift_ledger
from copytrading.drift import subscription_drift
from copytrading.models import CopyTrade
from copytrading.services.subscriptions import subscription_create
from execution.domain.values import Side
from execution.services.positions import positions_mark
from tests.copytrading.conftest import leader_trade
from tests.factories import make_account, make_user

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_a_hand_computed_ledger():
    legs = [
        # Leader buys 2 at 100 (fee 0.2); the terms asked for 0.55, lot rounding and limits
        # ordered 0.5, the IOC filled 0.4 at 101 (fee 0.05). Everything is worth 110 at the end.
        CopyLeg(
            side=Side.BUY, end_price=D(110), intended_quantity=D("0.55"),
            ordered_quantity=D("0.5"), filled_quantity=D("0.4"), follower_price=D(101),
            follower_fee=D("0.05"), leader_quantity=D(2), leader_price=D(100),
            leader_fee=D("0.2"), leader_at=T0, follower_at=T0 + timedelta(seconds=1.5),
        ),
        # Leader sells 1 at 105 (fee 0.1): the follower's 0.2 was under the min notional.
        CopyLeg(
            side=Side.SELL, end_price=D(110), intended_quantity=D("0.2"),
            ordered_quantity=D(0), filled_quantity=D(0), follower_price=None,
            follower_fee=D(0), leader_quantity=D(1), leader_price=D(105), leader_fee=D("0.1"),
            skipped=True,
        ),
        # The follower's stop sold 0.1 at 108 (fee 0.01): no leader trade.
        CopyLeg(
            side=Side.SELL, end_price=D(110), intended_quantity=D("0.1"),
            ordered_quantity=D("0.1"), filled_quantity=D("0.1"), follower_price=D(108),
            follower_fee=D("0.01"), leader_quantity=None, leader_price=None, close=True,
        ),
    ]  # fmt: skip
    ledger = drift_ledger(legs)
    # leader: 0.55 x 10 - 0.55/2 x 0.2 = 5.445; -0.2 x 5 - 0.2 x 0.1 = -1.02
    assert ledger.leader_pnl == D("4.425")
    # follower: 0.4 x 9 - 0.05 = 3.55; -0.1 x 2 - 0.01 = -0.21
    assert ledger.follower_pnl == D("3.34")
    assert ledger.difference == D("-1.085")
    assert ledger.parts == {
        "slippage": D("-0.4"),  # 0.4 x (100 - 101)
        "rounding": D("-0.5"),  # (0.5 - 0.55) x 10
        "unfilled": D("-1.0"),  # (0.4 - 0.5) x 10
        "skipped": D("1.02"),  # the leader lost what the follower never traded
        "fees": D("0.005"),  # -(0.05 - 0.055)
        "closes": D("-0.21"),
    }
    assert ledger.residual == 0
    assert (ledger.copies, ledger.skipped) == (2, 1)
    assert ledger.latency_mean == 1.5
    assert ledger.returns(D(100)) == (D("0.04425"), D("0.0334"))


def test_a_real_copy_breaks_down_into_parts_that_sum_to_the_difference(
    leader, django_capture_on_commit_callbacks
):
    account = make_account(make_user("follower"), deposit=D(10_000))
    subscription = subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk,
        terms={"allocation_percent": "50"},
    )  # fmt: skip
    start = datetime.now(UTC) - timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        fill = leader_trade(leader, "buy", "1", "20000", "L1")
    with django_capture_on_commit_callbacks(execute=True):
        small = leader_trade(leader, "buy", "0.001", "20000", "L2")  # too small to copy
    positions_mark(symbol="BTC-USDT", mark_price=D("21000"))
    report = subscription_drift(subscription, start=start, end=datetime.now(UTC) + timedelta(1))
    ledger = report.ledger
    copy = CopyTrade.objects.get(leader_fill=fill)
    order = copy.follower_order
    assert order is not None and order.filled_quantity == D("0.05")
    assert report.end_prices == {"BTC-USDT": D("21000")}
    # The follower paid the ask against the leader's 20,000, and a taker fee.
    fee = sum(f.fee for f in order.fills.all())
    assert fee > 0
    assert ledger.parts["slippage"] == D("0.05") * (D(20000) - order.average_fill_price)
    assert ledger.parts["fees"] == -fee
    assert ledger.parts["rounding"] == 0 and ledger.parts["unfilled"] == 0
    skipped = CopyTrade.objects.get(leader_fill=small)
    # About 0.00005 (the leader's equity is a little under 100,000 after its first fee).
    assert skipped.follower_order is None and D("0.00004") < skipped.intended_quantity < 1
    assert ledger.skipped == 1
    assert ledger.parts["skipped"] == -skipped.intended_quantity * 1000
    assert ledger.leader_pnl == (D("0.05") + skipped.intended_quantity) * 1000
    assert ledger.residual == 0
    assert sum(ledger.parts.values()) == ledger.difference
    assert ledger.latencies and all(s >= 0 for s in ledger.latencies)
    # Outside the period: nothing.
    before = subscription_drift(subscription, start=start - timedelta(1), end=start)
    assert before.ledger.copies == 0 and before.ledger.difference == 0
