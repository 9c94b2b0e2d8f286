"""manage.py backtest: a foreground backtest on stored candles, costs shown, bad input named."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strategies.models import Backtest
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def eurusd_candles(db):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def test_a_kind_on_eurusd_prints_its_metrics_and_costs(eurusd_candles):
    make_user("quant")
    out = StringIO()
    call_command(
        "backtest", "--kind", "sma_crossover", "--symbol", "EURUSD", "--interval", "1h",
        "--user", "quant", "--config", '{"fast_window": 10, "slow_window": 20}', stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    backtest = Backtest.objects.get()
    assert backtest.status == "succeeded" and backtest.owner.username == "quant"
    assert "100%" in text and f"backtest {backtest.pk}: sma_crossover on EURUSD 1h" in text
    assert "total_costs" in text and backtest.metrics["total_costs"] in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give either --strategy ID or --kind KIND"),
        (["--strategy", "999"], "there is no strategy 999"),
        (["--kind", "sma_crossover"], "--kind needs --user"),
        (["--kind", "sma_crossover", "--user", "quant", "--config", "{"], "not valid JSON"),
        (["--kind", "nope", "--user", "quant", "--symbol", "EURUSD", "--interval", "1h"], "kind"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(eurusd_candles, arguments, message):
    make_user("quant")
    with pytest.raises(CommandError, match=message):
        call_command("backtest", *arguments, stdout=StringIO())
    assert not Backtest.objects.exists()
