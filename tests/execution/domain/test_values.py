from decimal import Decimal as D
from decimal import localcontext

import pytest

from execution.domain.errors import DomainError, RuleViolation
from execution.domain.values import InstrumentSpec, Money, Side, exact

SPEC = InstrumentSpec("ETH-USDT", "ETH", "USDT", D("0.01"), D("0.001"), D("0.01"), D("10"))


def test_rounding_onto_the_grid_is_passive():
    assert SPEC.round_price(D("100.019"), Side.BUY) == D("100.01")
    assert SPEC.round_price(D("100.011"), Side.SELL) == D("100.02")
    assert SPEC.round_quantity(D("1.2349")) == D("1.234")


def test_each_rule_names_itself():
    with pytest.raises(RuleViolation, match="below ETH-USDT's minimum quantity 0.01") as caught:
        SPEC.check_quantity(D("0.005"))
    assert caught.value.rule == "min_quantity"
    with pytest.raises(RuleViolation, match="order value 9.00 USDT is below"):
        SPEC.check_notional(D("0.09"), D(100))


def test_instrument_rules_are_validated():
    with pytest.raises(RuleViolation, match="tick_size must be greater than zero"):
        InstrumentSpec("X", "X", "Y", D(0), D(1), D(0))
    with pytest.raises(RuleViolation, match="more than 18 decimal places"):
        InstrumentSpec("X", "X", "Y", D("1e-10"), D("1e-10"), D(0))


def test_money_refuses_mixed_currencies():
    assert Money(D("1.5"), "USD") + Money(D("2.25"), "USD") == Money(D("3.75"), "USD")
    with pytest.raises(DomainError, match="cannot combine USD with EUR"):
        Money(D(1), "USD") + Money(D(1), "EUR")


def test_domain_arithmetic_does_not_round_38_digit_products():
    qty, price = D("12345678.12345678"), D("98765432.1234567891")
    exact_product = D(f"{1234567812345678 * 987654321234567891}E-18")  # integer arithmetic
    with exact():
        assert qty * price == exact_product
    with localcontext(prec=28):  # Python's default context would have rounded it
        assert qty * price != exact_product


def test_numbers_beyond_what_is_stored_are_refused_at_the_edge():
    from execution.domain.values import to_decimal

    with pytest.raises(DomainError, match="quantity: 1e30 is too large"):
        to_decimal("1e30", field="quantity")
    with pytest.raises(DomainError, match="price: 1E\\+999999 is too large"):
        to_decimal(D("1e999999"), field="price")
    assert to_decimal("99999999999999999999.5", field="x") == D("99999999999999999999.5")
    # A grid check on a fine lot needs more than the default 28 digits: no InvalidOperation.
    fine = InstrumentSpec("X", "X", "Y", D("1"), D("1e-10"), D(0))
    assert fine.check_quantity(D("12345678901234567890.0000000001"))
