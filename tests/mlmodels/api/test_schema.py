"""Generated requests (schemathesis) against every operation of /api/v1/ml/, as staff, with
models, candles and a training run to find: none may answer a server error."""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from mlmodels.services import model_version_activate, training_run_start
from tests.execution.api.test_schema import settings_, wsgi_app  # noqa: F401 (fixtures)
from tests.mlmodels.api.conftest import BASE
from tests.mlmodels.registry.factories import register

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")


def test_no_generated_request_gets_a_server_error(wsgi_app, staff, eurusd, settings_):  # noqa: F811
    model_version_activate(version_id=register().pk)
    register(seed=1)
    training_run_start(
        name="eurusd-direction", symbol="EURUSD", interval="1h",
        training_config={}, feature_config={}, requested_by_id=staff.pk,
    )  # fmt: skip
    headers = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith(BASE)
    ]
    assert len(operations) == 9

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
