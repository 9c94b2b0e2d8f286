"""Model versions are shared: every signed-in user reads them, only staff change them. A
training run is its requester's: anyone else, staff included, gets 404 for it and never sees
it listed. Every operation of /api/v1/ml/ is listed in tests/execution/api/test_isolation.py
(ML_OPERATIONS); here each is tried by someone it is not for."""

import pytest

from mlmodels.models import ModelVersion, TrainingRun
from mlmodels.services import model_version_activate, training_run_start
from tests.execution.api.conftest import client_for
from tests.factories import make_user
from tests.mlmodels.api.conftest import BASE, row_counts
from tests.mlmodels.registry.factories import register

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")


@pytest.fixture
def victim(staff, eurusd):
    """The quant's active model, a candidate, and a training run of theirs."""
    active, candidate = register(), register(seed=1)
    model_version_activate(version_id=active.pk)
    run = training_run_start(
        name="eurusd-direction", symbol="EURUSD", interval="1h",
        training_config={"folds": 2}, feature_config={}, requested_by_id=staff.pk,
    )  # fmt: skip
    return {"active": active, "candidate": candidate, "run": run}


@pytest.fixture
def intruder_api(db):
    return client_for(make_user("intruder"))


@pytest.fixture
def staff_intruder_api(db):
    return client_for(make_user("other-quant", staff=True))


def test_every_user_reads_the_shared_models_and_the_catalogue(victim, intruder_api):
    active = victim["active"]
    listed = intruder_api.get(BASE + "models/").data
    assert listed["count"] == 2
    assert intruder_api.get(f"{BASE}models/{active.pk}/").data["status"] == "active"
    assert intruder_api.get(f"{BASE}models/{active.pk}/drift/").status_code == 200
    assert intruder_api.get(BASE + "features/").status_code == 200


def test_a_user_who_is_not_staff_changes_no_model_and_trains_nothing(victim, intruder_api):
    before = row_counts()
    statuses = list(ModelVersion.objects.order_by("pk").values_list("status", flat=True))

    for action, version in (("activate", "candidate"), ("retire", "active")):
        response = intruder_api.post(f"{BASE}models/{victim[version].pk}/{action}/")
        assert response.status_code == 403
    response = intruder_api.post(
        BASE + "training-runs/",
        {"name": "mine", "symbol": "EURUSD", "interval": "1h"},
        format="json",
    )
    assert response.status_code == 403

    assert row_counts() == before
    assert list(ModelVersion.objects.order_by("pk").values_list("status", flat=True)) == statuses


@pytest.mark.parametrize("who", ["intruder_api", "staff_intruder_api"])
def test_nobody_else_sees_a_training_run(victim, request, who):
    client = request.getfixturevalue(who)
    run = victim["run"]

    assert client.get(BASE + "training-runs/").data["count"] == 0
    response = client.get(f"{BASE}training-runs/{run.pk}/")
    assert response.status_code == 404
    assert str(run.pk) not in response.content.decode()
    assert TrainingRun.objects.get().status == "queued"
