"""Loading a version checks its features against the library and its artifact against its
digest; a mismatch is refused with the differences named, and is not activated."""

import pytest

from mlmodels.errors import FeatureMismatch, ModelRegistryError
from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue_hash
from mlmodels.models import ModelVersion
from mlmodels.registry import catalogue_differences, catalogue_snapshot
from mlmodels.selectors import feature_differences, model_version_predictor
from mlmodels.services import model_version_activate
from tests.mlmodels.registry.factories import FEATURES, register


def test_a_version_of_this_library_loads_and_predicts(db):
    version = ModelVersion.objects.get(pk=register().pk)
    assert feature_differences(version) == []
    predictor = model_version_predictor(version)
    assert predictor.feature_names == FEATURES
    up, down = predictor.predict_proba([[2.0, 0, 50, 1, 1], [-2.0, 0, 50, 1, 1]])
    assert up > 0.5 > down


def _tamper(version, **changes):
    ModelVersion.objects.filter(pk=version.pk).update(**changes)
    return ModelVersion.objects.get(pk=version.pk)


def test_a_version_trained_on_other_definitions_is_refused_with_the_differences(db):
    version = register()
    stored = [list(entry) for entry in version.feature_catalogue]
    for entry in stored:
        if entry[0] == "rsi_14":
            entry[3] = 99  # trained when rsi_14 warmed up over 99 rows
        if entry[0] == "gap":
            entry[2] = ["close"]
    stored.append(["old_feature", "technical", ["close"], 3])
    version = _tamper(version, feature_catalogue=stored, catalogue_hash="0" * 64)

    with pytest.raises(FeatureMismatch) as refused:
        model_version_predictor(version)

    message = str(refused.value)
    assert message.startswith("eurusd-direction v1 was trained on other feature definitions")
    assert "features it reads, defined differently: rsi_14 (warm_up 99 -> 14)" in message
    assert "other features defined differently: gap (inputs ['close'] -> ['open', 'close'])" in (
        message
    )
    assert "features no longer in the library: old_feature" in message
    assert message.endswith("Train a new version.")


def test_a_version_reading_a_feature_the_library_lacks_is_refused(db):
    names = [*FEATURES[:-1], "spread_of_yesterday"]
    version = ModelVersion.objects.get(pk=register(names=names).pk)
    with pytest.raises(FeatureMismatch, match="features it reads that the library lacks: "
                       "spread_of_yesterday"):  # fmt: skip
        model_version_predictor(version)


def test_activation_is_refused_for_a_version_that_does_not_load(db):
    good, bad = register(), register(seed=1)
    model_version_activate(version_id=good.pk)
    _tamper(bad, catalogue_hash="f" * 64)

    with pytest.raises(FeatureMismatch, match="the catalogue fingerprint is"):
        model_version_activate(version_id=bad.pk)

    states = dict(ModelVersion.objects.values_list("version", "status"))
    assert states == {1: "active", 2: "candidate"}


def test_a_damaged_artifact_is_refused(db):
    version = register()
    version = _tamper(version, artifact=version.artifact.replace('"1"', '"2"', 1) + " ")
    with pytest.raises(ModelRegistryError, match="the stored artifact does not match its digest"):
        model_version_predictor(version)


# --- the comparison itself, without a database ---------------------------------------------------


def _differences(**overrides):
    config = FeatureConfig()
    arguments = {
        "feature_names": FEATURES,
        "feature_config": config.to_dict(),
        "stored_hash": catalogue_hash(config),
        "stored_catalogue": catalogue_snapshot(config),
        "stored_definitions_version": DEFINITIONS_VERSION,
    }
    return catalogue_differences(**{**arguments, **overrides})


def test_the_same_library_has_no_differences():
    assert _differences() == []


def test_another_definitions_version_is_named():
    assert _differences(stored_definitions_version=0, stored_hash="0" * 64) == [
        f"feature definitions version 0 -> {DEFINITIONS_VERSION}"
    ]


def test_settings_the_library_no_longer_knows_are_named():
    (difference,) = _differences(feature_config={"rsi_period": 14, "retired_setting": 3})
    assert difference.startswith("its feature settings are no longer valid: unknown setting")


def test_the_library_settings_decide_the_names():
    # A model trained with rsi_period 21 reads rsi_21: the library builds it from that setting.
    config = FeatureConfig(rsi_period=21)
    assert (
        _differences(
            feature_names=["return_1", "rsi_21"],
            feature_config=config.to_dict(),
            stored_hash=catalogue_hash(config),
            stored_catalogue=catalogue_snapshot(config),
        )
        == []
    )
