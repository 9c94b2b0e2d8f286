"""Model versions in the API: anyone signed in reads them (list, filters, detail without the
artifact); only staff activate and retire them."""

import pytest

from mlmodels.models import ModelVersion
from mlmodels.services import model_version_activate
from tests.mlmodels.api.conftest import BASE, row_counts
from tests.mlmodels.registry.factories import FEATURES, register


@pytest.fixture
def versions(db):
    first, second = register(), register(seed=1)
    model_version_activate(version_id=first.pk)
    return {"first": first, "second": second, "other": register("btc-direction")}


def test_the_list_shows_every_version_newest_first_by_name(api, versions):
    response = api.get(BASE + "models/")

    assert response.status_code == 200
    listed = [(v["name"], v["version"], v["status"]) for v in response.data["results"]]
    assert listed == [
        ("btc-direction", 1, "candidate"),
        ("eurusd-direction", 2, "candidate"),
        ("eurusd-direction", 1, "active"),
    ]
    entry = response.data["results"][2]
    assert entry["feature_count"] == len(FEATURES)
    assert entry["artifact_size"] == versions["first"].artifact_size
    assert entry["age"]["expired"] is True  # trained on 2017 data
    assert "artifact" not in entry and "fold_metrics" not in entry


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=eurusd-direction", [2, 1]),
        ("status=active", [1]),
        ("status=candidate&status=active&name=eurusd-direction", [2, 1]),
        ("name=btc-direction&status=active", []),
        ("symbol=EURUSD", [1, 2, 1]),
    ],
)
def test_the_list_filters(api, versions, query, expected):
    response = api.get(f"{BASE}models/?{query}")
    assert [v["version"] for v in response.data["results"]] == expected


def test_an_unknown_status_filter_is_refused(api, versions):
    response = api.get(BASE + "models/?status=deployed")
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert "deployed" in response.data["errors"]["status"][0]


def test_the_detail_has_folds_importance_and_report_but_not_the_artifact(api, versions):
    version = versions["first"]
    response = api.get(f"{BASE}models/{version.pk}/")

    assert response.status_code == 200
    data = response.data
    assert data["feature_names"] == FEATURES
    assert [fold["fold"] for fold in data["fold_metrics"]] == [0, 1]
    assert data["importance"]["return_1"] == 5.0
    assert "logistic baseline after costs" in data["report"]
    assert data["training_start"] == "2017-04-19T09:00:00Z"
    assert data["artifact_sha256"] == version.artifact_sha256
    assert "artifact" not in data
    assert version.artifact not in response.content.decode()


@pytest.mark.parametrize("pk", ["999", "abc", "1.5", "-1", "99999999999999999999999"])
def test_an_unknown_version_is_not_found(api, versions, staff_api, pk):
    assert api.get(f"{BASE}models/{pk}/").status_code == 404
    assert api.get(f"{BASE}models/{pk}/drift/").status_code == 404
    for action in ("activate", "retire"):
        response = staff_api.post(f"{BASE}models/{pk}/{action}/")
        assert response.status_code == 404
        assert response.data["code"] == "not_found"


def test_staff_activate_a_version_retiring_the_active_one(staff_api, versions):
    second = versions["second"]
    response = staff_api.post(f"{BASE}models/{second.pk}/activate/")

    assert response.status_code == 200
    assert response.data["status"] == "active" and response.data["activated_at"]
    states = dict(
        ModelVersion.objects.filter(name="eurusd-direction").values_list("version", "status")
    )
    assert states == {1: "retired", 2: "active"}


def test_staff_retire_a_version(staff_api, versions):
    first = versions["first"]
    response = staff_api.post(f"{BASE}models/{first.pk}/retire/")

    assert response.status_code == 200
    assert response.data["status"] == "retired"
    assert not ModelVersion.objects.filter(status="active", name="eurusd-direction").exists()


def test_others_may_neither_activate_nor_retire(api, versions):
    before = list(ModelVersion.objects.order_by("pk").values_list("status", "activated_at"))
    for action, version in (("activate", "second"), ("retire", "first")):
        response = api.post(f"{BASE}models/{versions[version].pk}/{action}/")
        assert response.status_code == 403
        assert response.data == {
            "detail": "Only staff may do this.",
            "code": "permission_denied",
            "errors": {},
        }
    after = list(ModelVersion.objects.order_by("pk").values_list("status", "activated_at"))
    assert after == before


def test_activation_of_a_version_that_does_not_load_is_refused(staff_api, versions):
    second = versions["second"]
    ModelVersion.objects.filter(pk=second.pk).update(catalogue_hash="0" * 64)
    before = row_counts()

    response = staff_api.post(f"{BASE}models/{second.pk}/activate/")

    assert response.status_code == 400
    (message,) = response.data["errors"]["non_field_errors"]
    assert message.startswith("eurusd-direction v2 was trained on other feature definitions")
    assert ModelVersion.objects.get(pk=second.pk).status == "candidate"
    assert ModelVersion.objects.get(pk=versions["first"].pk).status == "active"
    assert row_counts() == before


def test_nobody_anonymous_reads_anything(client, versions):
    for path in ["models/", f"models/{versions['first'].pk}/", "features/", "training-runs/"]:
        response = client.get(BASE + path)
        assert response.status_code == 401, path
    response = client.post(f"{BASE}models/{versions['second'].pk}/activate/")
    assert response.status_code == 401
