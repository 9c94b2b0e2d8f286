"""Generated requests (schemathesis) against every operation of /api/v1/ml/, as staff, with
models, candles and a training run to find: none may answer a server error."""

import pytest

from accounts.services import api_token_create
from mlmodels.services import model_version_activate, training_run_start
from tests.execution.api.test_schema import settings_, wsgi_app  # noqa: F401 (fixtures)
from tests.mlmodels.api.conftest import BASE
from tests.mlmodels.registry.factories import register
from tests.schema_fuzz import api_operations, server_errors

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")


def test_no_generated_request_gets_a_server_error(wsgi_app, staff, eurusd, settings_):  # noqa: F811
    model_version_activate(version_id=register().pk)
    register(seed=1)
    training_run_start(
        name="eurusd-direction", symbol="EURUSD", interval="1h",
        training_config={}, feature_config={}, requested_by_id=staff.pk,
    )  # fmt: skip
    headers = {"Authorization": f"Token {api_token_create(user_id=staff.pk, name='tests').key}"}
    operations = api_operations(wsgi_app, keep=lambda path: path.startswith(BASE))
    assert len(operations) == 9
    failures = server_errors(operations, headers=headers)
    assert not failures, "\n\n".join(failures)
