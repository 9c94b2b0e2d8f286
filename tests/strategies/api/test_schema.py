"""Generated requests (schemathesis) against every operation of /api/v1/strategies/, with a
strategy, a signal and a backtest to find: none may answer a server error."""

from __future__ import annotations

from datetime import UTC, datetime

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from strategies.services import backtest_start, signal_record
from tests.execution.api.test_schema import settings_, wsgi_app  # noqa: F401 (fixtures)
from tests.strategies.api.conftest import BASE
from tests.strategies.services.conftest import make_strategy


def test_no_generated_request_gets_a_server_error(wsgi_app, user, account, btc, settings_):  # noqa: F811
    strategy = make_strategy(account)
    signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=datetime(2024, 1, 1, tzinfo=UTC),
        side="buy", target_position=1.0,
    )  # fmt: skip
    backtest_start(owner_id=user.pk, strategy_id=strategy.pk)
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith(BASE)
    ]
    assert len(operations) == 13

    failures = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=15,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case):
                response = case.call(headers=headers)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                call()
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters)
            except Exception as error:  # collect all, to report every failing operation
                failures.append(f"{operation.label} ({mode}): {error}")
    assert not failures, "\n\n".join(failures)
