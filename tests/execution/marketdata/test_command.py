"""manage.py marketdata_import: a summary line per source, clear refusals, --list."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from execution.models import Candle, Instrument


def run(*args: str) -> str:
    out = StringIO()
    call_command("marketdata_import", *args, stdout=out)
    return out.getvalue()


def test_packages_import_with_a_summary_line_each(db):
    out = run("backtesting:BTCUSD", "bokeh:FB")
    assert out.splitlines() == [
        "backtesting:BTCUSD -> BTCUSD 1M candles: 156 read, 156 added, 0 already stored, "
        "2012-01-01 00:00 to 2024-12-01 00:00 UTC (instrument BTCUSD created)",
        "bokeh:FB -> FB 1d candles: 196 read, 196 added, 0 already stored, "
        "2012-05-18 00:00 to 2013-03-01 00:00 UTC (instrument FB created)",
    ]
    assert "0 added, 156 already stored" in run("backtesting:BTCUSD")


def test_list_names_every_source_its_licence_and_what_is_stored(db):
    run("backtesting:BTCUSD")
    out = run("--list")
    assert "backtesting:EURUSD   1h  -> EURUSD (tick 0.00001, lot 1000)" in out
    assert "AGPL-3.0" in out and "arch: NCSA" in out and "public domain" in out
    assert "BTCUSD       1M         156  2012-01-01 00:00 to 2024-12-01 00:00 UTC" in out


def test_a_csv_file_with_a_new_instrument(db, tmp_path):
    path = tmp_path / "abc.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n")
    out = run(f"csv:{path}", "--symbol", "ABC-EUR", "--interval", "1d", "--tick-size", "0.01",
              "--lot-size", "1")  # fmt: skip
    assert "ABC-EUR 1d candles: 1 read, 1 added" in out
    abc = Instrument.objects.get(symbol="ABC-EUR")
    assert (abc.base_currency, abc.quote_currency) == ("ABC", "EUR")


def test_a_bad_csv_file_is_refused_with_its_problems_and_nothing_imported(db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02,10,11,9,x,100\n")
    with pytest.raises(CommandError) as refused:
        run(f"csv:{path}", "--symbol", "ABC", "--interval", "1d", "--tick-size", "0.01",
            "--lot-size", "1")  # fmt: skip
    message = str(refused.value)
    assert "line 2, column 'close': 'x' is not a number" in message
    assert f"Nothing was imported from csv:{path}." in message
    assert not Instrument.objects.exists() and not Candle.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name a source, or --list"),
        (("yahoo:AAPL",), "expected backtesting:, arch:, bokeh:, csv: or ccxt: first"),
        (("bokeh:TSLA",), "no such series (there are bokeh:AAPL"),
        (("bokeh:IBM", "--interval", "1h"), "a package series takes no options"),
        (("csv:/tmp/x.csv",), "csv:PATH needs a path and --symbol"),
        (("csv:/tmp/x.csv", "--symbol", "X", "--kind", "books"), "candles or trades, not books"),
        (("ccxt:okx",), "expected ccxt:EXCHANGE:SYMBOL"),
        (("ccxt:nowhere:BTC/USDT", "--since", "2024-01-01"), "not an exchange ccxt has"),
        (("ccxt:okx:BTC/USDT",), "history from an exchange needs --since"),
        (("ccxt:okx:BTC/USDT", "--since", "soon"), "'soon' is not a date or time"),
        (("csv:/tmp/x.csv", "--symbol", "X", "--tick-size", "0.01"), "needs --symbol, --tick"),
        (("csv:/tmp/x.csv", "--symbol", "X", "--tick-size", "a", "--lot-size", "1"),
         "--tick-size 'a' is not a number"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_clearly(db, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run(*args)
