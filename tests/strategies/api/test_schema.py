"""Generated requests (schemathesis) against every operation of /api/v1/strategies/, with a
strategy, a signal and a backtest to find: none may answer a server error."""

from __future__ import annotations

from datetime import UTC, datetime

from accounts.services import api_token_create
from strategies.services import backtest_start, signal_record
from tests.execution.api.test_schema import settings_, wsgi_app  # noqa: F401 (fixtures)
from tests.schema_fuzz import api_operations, server_errors
from tests.strategies.api.conftest import BASE
from tests.strategies.services.conftest import make_strategy


def test_no_generated_request_gets_a_server_error(wsgi_app, user, account, btc, settings_):  # noqa: F811
    strategy = make_strategy(account)
    signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=datetime(2024, 1, 1, tzinfo=UTC),
        side="buy", target_position=1.0,
    )  # fmt: skip
    backtest_start(owner_id=user.pk, strategy_id=strategy.pk)
    headers = {"Authorization": f"Token {api_token_create(user_id=user.pk, name='tests').key}"}
    operations = api_operations(wsgi_app, keep=lambda path: path.startswith(BASE))
    assert len(operations) == 19
    failures = server_errors(operations, headers=headers)
    assert not failures, "\n\n".join(failures)
