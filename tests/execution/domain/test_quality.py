"""Execution quality of a parent order, against hand-computed values."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.domain.errors import DomainError
from execution.domain.quality import (
    ArrivalBook,
    BookLevels,
    QualityFill,
    execution_quality,
    market_baseline,
    summarize_quality,
)
from execution.domain.values import Side

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fill(quantity: str, price: str, fee: str = "0", seconds: int = 0) -> QualityFill:
    return QualityFill(quantity=D(quantity), price=D(price), fee=D(fee), at=at(seconds))


# A buy of 1.0 from an arrival mid of 100: 0.8 filled at 100.15 on average, 0.2 left while the
# market rose to 100.50.
PARTIAL_BUY = {
    "side": Side.BUY,
    "quantity": D(1),
    "arrival_mid": D(100),
    "fills": [fill("0.4", "100.20", "0.04", seconds=20), fill("0.4", "100.10", "0.04", seconds=10)],
    "mids": [(at(0), D(100)), (at(30), D("100.50")), (at(15), D("100.30"))],
    "signal_at": at(-5),
}
ASKS = ((D("100.05"), D("0.5")), (D("100.15"), D("0.3")), (D("100.30"), D(1)))
BIDS = ((D("99.95"), D(1)),)


def test_a_partly_filled_buy():
    quality = execution_quality(**PARTIAL_BUY)

    assert quality.filled_quantity == D("0.8") and quality.fill_rate == D("0.8")
    # (0.4 x 100.10 + 0.4 x 100.20) / 0.8
    assert quality.average_price == D("100.15")
    # (100.15 - 100) / 100 x 10,000: a buy above its arrival mid is worse, positive
    assert quality.slippage_bps == D(15)
    # 0.08 of fees on 80.12 traded
    assert quality.fees == D("0.08") and quality.fees_bps == D("9.9850")
    # 0.4 x 0.10 + 0.4 x 0.20
    assert quality.execution_cost == D("0.12")
    # the latest mid (100.50, not the last listed) marks the 0.2 left: 0.2 x 0.50
    assert quality.final_mid == D("100.50") and quality.opportunity_cost == D("0.10")
    # 0.12 + 0.08 + 0.10 on 1.0 x 100
    assert quality.shortfall == D("0.30") and quality.shortfall_bps == D(30)
    assert quality.signal_to_first_fill == timedelta(seconds=15)
    assert quality.signal_to_complete is None  # never complete
    assert quality.baseline is None and quality.improvement_bps is None


def test_the_market_order_baseline_walks_the_book_at_arrival():
    quality = execution_quality(
        **PARTIAL_BUY, book=BookLevels(bids=BIDS, asks=ASKS), taker_fee_rate=D("0.001")
    )

    baseline = quality.baseline
    assert baseline is not None and baseline.complete
    # 0.5 x 100.05 + 0.3 x 100.15 + 0.2 x 100.30 = 100.13 for 1.0
    assert baseline.filled_quantity == D(1) and baseline.average_price == D("100.13")
    # 0.13 above the mid, plus 0.1% of 100.13 in taker fees
    assert baseline.fees == D("0.10013") and baseline.cost == D("0.23013")
    assert baseline.cost_bps == D("23.0130")
    assert baseline.slippage_bps == D(13)  # the price alone, without the fees
    # The algorithm's 30 bps (the unfilled rest missed a rising market) lose to 23.013 bps.
    assert quality.improvement_bps == D("-6.9870")


def test_a_filled_sell_beats_a_market_order_through_a_thin_top():
    quality = execution_quality(
        side=Side.SELL,
        quantity=D(2),
        arrival_mid=D(50),
        fills=[fill("1.5", "49.9", seconds=30), fill("0.5", "49.9", seconds=70)],
        signal_at=at(0),
        book=BookLevels(bids=((D("49.95"), D(1)), (D("49.80"), D(5))), asks=()),
    )

    # A sell below its arrival mid is worse: positive.
    assert quality.average_price == D("49.9") and quality.slippage_bps == D(20)
    assert quality.opportunity_cost == 0 and quality.final_mid is None  # nothing left to mark
    assert quality.shortfall == D("0.2") and quality.shortfall_bps == D(20)
    assert quality.fees == 0 and quality.fees_bps == 0
    assert quality.signal_to_first_fill == timedelta(seconds=30)
    assert quality.signal_to_complete == timedelta(seconds=70)
    # 1 x 49.95 + 1 x 49.80 = 99.75 for 2: 0.25 below 100, 25 bps
    assert quality.baseline is not None and quality.baseline.cost_bps == D(25)
    assert quality.improvement_bps == D(5)


def test_the_arrival_book_as_stored_round_trips_and_keeps_the_best_levels():
    book = BookLevels(
        bids=tuple((D(99) - D(n) / 100, D(1)) for n in range(60)),
        asks=((D("100.05"), D("0.5")), (D("1E+3"), D(2))),
    )
    assert book.mid == D("99.525")
    top = book.top(50)
    assert len(top.bids) == 50 and top.bids[0] == book.bids[0] and top.asks == book.asks

    stored = ArrivalBook(at=T0, book=top).to_dict()

    assert stored["at"] == "2024-03-01T12:00:00+00:00"
    assert stored["asks"] == [["100.05", "0.5"], ["1000", "2"]]  # strings, no exponent
    assert stored["bids"][:2] == [["99", "1"], ["98.99", "1"]]
    assert ArrivalBook.from_dict(stored) == ArrivalBook(at=T0, book=top)
    assert BookLevels(bids=(), asks=top.asks).mid is None


def test_a_book_too_thin_for_the_quantity_gives_no_baseline_price():
    baseline = market_baseline(
        side=Side.SELL,
        quantity=D(2),
        arrival_mid=D(50),
        book=BookLevels(bids=((D("49.95"), D("1.5")),), asks=()),
    )
    assert (baseline.filled_quantity, baseline.average_price) == (D("1.5"), D("49.95"))
    assert not baseline.complete and baseline.cost is None and baseline.cost_bps is None
    assert baseline.slippage_bps is None


def test_without_fills_or_a_final_mid():
    nothing = execution_quality(side=Side.BUY, quantity=D(1), arrival_mid=D(100), fills=[])
    assert (nothing.filled_quantity, nothing.fill_rate, nothing.average_price) == (0, 0, None)
    assert nothing.slippage_bps is None and nothing.fees_bps is None
    assert nothing.opportunity_cost is None and nothing.shortfall_bps is None
    assert nothing.signal_to_first_fill is None

    marked = execution_quality(
        side=Side.SELL, quantity=D(1), arrival_mid=D(100), fills=[], mids=[(at(5), D(99))]
    )
    # A sell that never filled while the market fell 1%: it missed 100 bps.
    assert marked.opportunity_cost == D(1) and marked.shortfall_bps == D(100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fills": [fill("0.6", "100"), fill("0.6", "100")]}, "above the parent's quantity 1"),
        ({"arrival_mid": D(0)}, "arrival mid must be greater than zero"),
        ({"fills": [fill("0.5", "100")], "quantity": D(-1)}, "quantity must be greater"),
    ],
)
def test_impossible_input_is_refused(kwargs, message):
    args = {"side": Side.BUY, "quantity": D(1), "arrival_mid": D(100), "fills": []}
    with pytest.raises(DomainError, match=message):
        execution_quality(**{**args, **kwargs})


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        (((D(99), D(1)), (D(99), D(2))), (), "bids must be sorted best first"),
        ((), ((D(101), D(1)), (D(100), D(1))), "asks must be sorted best first"),
        (((D(101), D(1)),), ((D(100), D(1)),), "crossed book"),
        (((D(99), D(0)),), (), "bid level 1 quantity must be greater than zero"),
    ],
)
def test_a_malformed_book_is_refused(bids, asks, message):
    with pytest.raises(DomainError, match=message):
        BookLevels(bids=bids, asks=asks)


def test_a_fill_takes_no_float():
    with pytest.raises(DomainError, match="not float"):
        QualityFill(quantity=0.1, price=D(1), fee=D(0), at=T0)


@given(
    mid=st.integers(1_000, 100_000).map(lambda n: D(n) / 10),
    offsets=st.lists(st.integers(-500, 500), min_size=1, max_size=5),
    final=st.integers(-500, 500),
)
def test_a_sell_mirrored_around_the_mid_costs_what_the_buy_costs(mid, offsets, final):
    """Signs: reflecting every price about the arrival mid turns a buy into a sell with the
    same slippage, shortfall and baseline."""
    tick = D("0.1")
    quantity = D(len(offsets) + 1)
    buys = [fill("1", str(mid + n * tick), "0.01", seconds=i) for i, n in enumerate(offsets)]
    sells = [fill("1", str(mid - n * tick), "0.01", seconds=i) for i, n in enumerate(offsets)]
    if any(f.price <= 0 for f in buys + sells):
        return
    up = ((mid + tick, D(2)), (mid + 3 * tick, D(100)))
    down = ((mid - tick, D(2)), (mid - 3 * tick, D(100)))
    common = {"quantity": quantity, "arrival_mid": mid}
    buy = execution_quality(
        side=Side.BUY, fills=buys, mids=[(at(99), mid + final * tick)],
        book=BookLevels(bids=down, asks=up), **common,
    )  # fmt: skip
    sell = execution_quality(
        side=Side.SELL, fills=sells, mids=[(at(99), mid - final * tick)],
        book=BookLevels(bids=down, asks=up), **common,
    )  # fmt: skip
    assert buy.slippage_bps == sell.slippage_bps
    assert buy.shortfall == sell.shortfall and buy.shortfall_bps == sell.shortfall_bps
    assert buy.improvement_bps == sell.improvement_bps is not None


def test_summaries_per_algorithm_with_means_medians_and_weights():
    def quality(quantity, price, *, book=None, side=Side.BUY):
        return execution_quality(
            side=side, quantity=D(quantity), arrival_mid=D(100),
            fills=[fill(quantity, price)], book=book,
        )  # fmt: skip

    book = BookLevels(bids=(), asks=((D("100.20"), D(100)),))  # the baseline costs 20 bps
    rows = [
        ("twap", quality("1", "100.10", book=book)),  # 10 bps, improvement 10
        ("twap", quality("3", "100.30", book=book)),  # 30 bps, improvement -10
        ("twap", quality("1", "100.50")),  # 50 bps, no baseline
        ("market", quality("2", "99.90", side=Side.SELL)),  # 10 bps
        ("twap", execution_quality(side=Side.BUY, quantity=D(1), arrival_mid=D(100), fills=[])),
    ]

    summary = summarize_quality(rows)

    assert list(summary) == ["twap", "market"]
    twap = summary["twap"]
    assert (twap.count, twap.filled_count, twap.baseline_count) == (4, 3, 2)
    assert twap.mean_fill_rate == D("0.75")
    assert twap.mean_slippage_bps == D(30) and twap.median_slippage_bps == D(30)
    # Weights 100, 300 and 100 (filled quantity x arrival mid): (10 + 90 + 50) / 5
    assert twap.weighted_slippage_bps == D(30)
    assert twap.mean_improvement_bps == D(0)
    # (10 x 100 - 10 x 300) / 400
    assert twap.weighted_improvement_bps == D(-5)
    # The unfilled parent has no final mid: its shortfall is unknown and left out.
    assert twap.mean_shortfall_bps == D(30)
    # Money: 6 parents' worth of 100 at arrival, 5 of them filled; no fees here.
    assert twap.arrival_notional == D(600) and twap.fill_rate == D("0.833333333333333333")
    assert twap.fees == 0 and twap.fees_bps == 0
    # The two compared parents: the baseline costs 20 bps on 400, they gained -5 bps: 25%
    # more than the baseline cost (-2000 / 8000).
    assert twap.baseline_cost_bps == twap.baseline_slippage_bps == D(20)
    assert twap.improvement_pct == D(-25)
    assert twap.median_signal_to_first_fill is None and twap.mean_signal_to_complete is None
    market = summary["market"]
    assert (market.count, market.median_slippage_bps, market.mean_improvement_bps) == (
        1,
        D(10),
        None,
    )
    assert market.baseline_cost_bps is None and market.improvement_pct is None


def test_summaries_of_times_fees_and_an_improvement_in_percent():
    thin_top = BookLevels(bids=((D("49.95"), D(1)), (D("49.80"), D(5))), asks=())

    def sell(*fills, quantity="2"):
        return execution_quality(
            side=Side.SELL, quantity=D(quantity), arrival_mid=D(50), fills=list(fills),
            signal_at=at(0), book=thin_top,
        )  # fmt: skip

    group = [
        # complete after 30 s: 20 bps of slippage against a baseline of 25, so 5 better
        sell(fill("1.5", "49.9", "0.05", seconds=10), fill("0.5", "49.9", "0.05", seconds=30)),
        # first fill after 20 s, never complete (no final mid: shortfall unknown)
        sell(fill("1", "49.9", "0.1", seconds=20)),
        # complete after 50 s, at the mid: 25 better than the baseline
        sell(fill("1", "50", seconds=40), fill("1", "50", seconds=50)),
    ]

    [summary] = summarize_quality(("twap", q) for q in group).values()

    assert summary.median_signal_to_first_fill == timedelta(seconds=20)
    assert summary.mean_signal_to_first_fill == timedelta(seconds=70) / 3
    assert summary.median_signal_to_complete == timedelta(seconds=40)
    assert summary.mean_signal_to_complete == timedelta(seconds=40)
    # 0.2 of fees on 249.7 executed
    assert summary.fees == D("0.2") and summary.fees_bps == D("8.0096")
    # Compared: the first and the third, each 100 at arrival. The first's shortfall is 20 bps
    # of slippage and 10 of fees: 30 against the baseline's 25; the third's 0 against 25.
    assert summary.baseline_count == 2 and summary.baseline_cost_bps == D(25)
    assert summary.weighted_improvement_bps == D(10)  # (-5 + 25) / 2
    assert summary.improvement_pct == D(40)  # 20 / 50
