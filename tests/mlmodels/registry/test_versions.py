"""The registry's invariants: version numbers per name (also under concurrent trainings), at
most one active version per name (also under concurrent activations), activate and retire."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mlmodels.errors import ModelRegistryError
from mlmodels.models import ModelStatus, ModelVersion
from mlmodels.services import model_version_activate, model_version_retire
from tests.mlmodels.registry.factories import FEATURES, register


def statuses(name="eurusd-direction"):
    return list(
        ModelVersion.objects.filter(name=name).order_by("version").values_list("version", "status")
    )


def test_versions_are_numbered_per_name(db):
    first, second = register(), register(seed=1)
    other = register("btc-direction")

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.status == second.status == ModelStatus.CANDIDATE
    stored = ModelVersion.objects.get(pk=first.pk)
    assert stored.feature_names == FEATURES
    assert stored.artifact_size == len(stored.artifact.encode())
    assert [f["fold"] for f in stored.fold_metrics] == [0, 1]
    assert (stored.training_start.isoformat(), stored.training_end.isoformat()) == (
        "2017-04-19T09:00:00+00:00",
        "2017-12-01T00:00:00+00:00",
    )


def test_the_database_refuses_a_repeated_version_number(db):
    version = register()
    version.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        version.save()


def test_the_database_refuses_a_second_active_version_of_a_name(db):
    first, second = register(), register(seed=1)
    model_version_activate(version_id=first.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status=ModelStatus.ACTIVE)
    # Another name's active version is no conflict.
    model_version_activate(version_id=register("btc-direction").pk)
    assert ModelVersion.objects.filter(status=ModelStatus.ACTIVE).count() == 2


def test_activating_retires_the_active_version_of_the_same_name(db):
    first, second = register(), register(seed=1)
    other = register("btc-direction")
    model_version_activate(version_id=other.pk)

    model_version_activate(version_id=first.pk)
    assert statuses() == [(1, "active"), (2, "candidate")]
    model_version_activate(version_id=second.pk)

    assert statuses() == [(1, "retired"), (2, "active")]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.retired_at == second.activated_at
    assert ModelVersion.objects.get(pk=other.pk).status == "active"


def test_activating_the_active_version_changes_nothing(db):
    version = register()
    activated_at = model_version_activate(version_id=version.pk).activated_at
    assert model_version_activate(version_id=version.pk).activated_at == activated_at


def test_a_retired_version_can_be_activated_again(db):
    first, second = register(), register(seed=1)
    model_version_activate(version_id=first.pk)
    model_version_activate(version_id=second.pk)

    model_version_activate(version_id=first.pk)  # a rollback

    assert statuses() == [(1, "active"), (2, "retired")]
    assert ModelVersion.objects.get(pk=first.pk).retired_at is None


def test_retiring_the_active_version_leaves_none_active(db):
    version = register()
    model_version_activate(version_id=version.pk)

    retired = model_version_retire(version_id=version.pk)
    again = model_version_retire(version_id=version.pk)

    assert retired.status == again.status == "retired"
    assert again.retired_at == retired.retired_at
    assert statuses() == [(1, "retired")]


def test_an_unknown_version_is_refused(db):
    with pytest.raises(ModelRegistryError, match="there is no model version 999"):
        model_version_activate(version_id=999)
    with pytest.raises(ModelRegistryError, match="there is no model version 999"):
        model_version_retire(version_id=999)


def _in_threads(count, work):
    """Run work(i) in ``count`` threads started together; each uses its own connection."""
    barrier = threading.Barrier(count)
    errors = []

    def run(i):
        try:
            barrier.wait()
            work(i)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_concurrent_trainings_of_a_name_get_distinct_numbers(transactional_db):
    _in_threads(6, lambda i: register(seed=i))
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == [1, 2, 3, 4, 5, 6]


def test_concurrent_activations_leave_one_version_active(transactional_db):
    versions = [register(seed=i) for i in range(4)]
    model_version_activate(version_id=versions[0].pk)

    _in_threads(3, lambda i: model_version_activate(version_id=versions[i + 1].pk))

    states = dict(statuses())
    assert list(states.values()).count("active") == 1
    assert states[1] == "retired"
    active = ModelVersion.objects.get(status="active")
    retired_at = set(
        ModelVersion.objects.filter(status="retired").values_list("retired_at", flat=True)
    )
    assert all(at <= active.activated_at <= timezone.now() for at in retired_at)
