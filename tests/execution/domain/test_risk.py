from decimal import Decimal as D

from execution.domain.orders import OrderRequest
from execution.domain.risk import AccountRisk, RiskLimits, check_order
from execution.domain.values import InstrumentSpec

BTC = InstrumentSpec("BTC-USDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))


def risk(**kw):
    values = {
        "equity": D(10_000),
        "available_balance": D(10_000),
        "start_of_day_equity": D(10_000),
        "loss_limit_breached": False,
        "position_quantity": D(0),
        "mid_price": D(20_000),
        "taker_fee_rate": D("0.0005"),
    }
    values.update(kw)
    return AccountRisk(**values)


def request(**kw):
    args = {"side": "buy", "order_type": "market", "quantity": "0.1"}
    args.update(kw)
    return OrderRequest.build(BTC, **args)


def rules(decision):
    return [v.rule for v in decision.violations]


def test_an_order_within_every_limit_passes():
    decision = check_order(request(), RiskLimits(), risk())
    assert decision.accepted and not decision.loss_limit_breached_now


def test_every_failed_check_is_reported_at_once():
    limits = RiskLimits(max_order_quantity=D("0.5"), max_order_value=D(5_000))
    decision = check_order(request(order_type="limit", quantity="1", price="22000"), limits, risk())
    assert rules(decision) == [
        "max_order_size",
        "max_order_value",
        "price_deviation",
        "max_position_value",
        "insufficient_balance",
    ]
    messages = " | ".join(v.message for v in decision.violations)
    assert "price 22000 is 10.00% from the mid 20000, more than the 5.00% allowed" in messages
    assert "above 50.00% of equity" in messages


def test_min_order_size():
    decision = check_order(request(), RiskLimits(min_order_quantity=D(1)), risk())
    assert rules(decision) == ["min_order_size"]


def test_daily_loss_limit_blocks_new_risk_but_not_reductions():
    losing = risk(equity=D(8_900), available_balance=D(8_900), position_quantity=D("0.1"))
    opening = check_order(request(), RiskLimits(), losing)
    assert rules(opening) == ["daily_loss_limit"] and opening.loss_limit_breached_now
    closing = check_order(request(side="sell", quantity="0.1"), RiskLimits(), losing)
    assert closing.accepted
    already = check_order(request(), RiskLimits(), risk(loss_limit_breached=True))
    assert rules(already) == ["daily_loss_limit"] and not already.loss_limit_breached_now


def test_reduce_only_must_reduce():
    assert rules(check_order(request(reduce_only=True), RiskLimits(), risk())) == ["reduce_only"]
    too_big = check_order(
        request(side="sell", quantity="0.3", reduce_only=True),
        RiskLimits(),
        risk(position_quantity=D("0.2")),
    )
    assert rules(too_big) == ["reduce_only"]


def test_no_market_price_refuses_instead_of_guessing():
    decision = check_order(request(), RiskLimits(), risk(mid_price=None))
    assert rules(decision) == ["no_market_price"]


def test_a_short_counts_towards_position_value():
    decision = check_order(
        request(side="sell", quantity="0.3"), RiskLimits(), risk(position_quantity=D("-0.1"))
    )
    # |-0.1 - 0.3| x 20000 = 8000 > 50% of 10000
    assert rules(decision) == ["max_position_value"]
