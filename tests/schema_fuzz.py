"""Generated requests (schemathesis) against the API's operations: the one loop every app's
schema test runs, so each only says which operations, as whom, with which data around."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error


def api_operations(wsgi_app: Any, *, keep: Callable[[str], bool] = lambda path: True) -> list[Any]:
    """The operations of the served OpenAPI schema whose path ``keep`` accepts."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    results: Iterable[Any] = schema.get_all_operations()  # Ok(operation) or Err(schema error)
    return [r.ok() for r in results if keep(r.ok().path)]


def server_errors(operations: Iterable[Any], *, headers: dict[str, str]) -> list[str]:
    """Every operation, with valid and with invalid generated requests: what answered 5xx."""
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
            def call(case: Any) -> None:
                response = case.call(headers=headers)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                call()
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters)
            except Exception as error:  # collect all, to report every failing operation
                failures.append(f"{operation.label} ({mode}): {error}")
    return failures
