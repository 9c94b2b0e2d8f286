"""Serializers of the model registry's API: shapes of requests and answers only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from execution.api.serializers import StrictFieldsMixin
from mlmodels import selectors
from mlmodels.features import FeatureConfig, FeatureGroup
from mlmodels.models import ModelStatus, ModelVersion, TrainingRun, TrainingStatus
from mlmodels.training import TrainingConfig

MODEL_STATUSES = [status.value for status in ModelStatus]
TRAINING_STATUSES = [status.value for status in TrainingStatus]
FEATURE_GROUPS = [group.value for group in FeatureGroup]
DRIFT_LEVELS = ["stable", "moderate", "significant"]


def _plain(value: Any) -> Any:
    """JSON numbers arrive as Decimal (the API's parser keeps prices exact); settings are
    floats."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class _SettingsField(serializers.DictField):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        return _plain(super().to_internal_value(data))  # type: ignore[no-any-return]


def openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A settings schema for OpenAPI 3.0, where an exclusive bound is a flag on ``minimum`` or
    ``maximum`` (the configs write JSON Schema's numeric ``exclusiveMinimum``)."""
    properties = {}
    for name, entry in schema["properties"].items():
        entry = dict(entry)
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if exclusive in entry:
                entry[bound] = entry.pop(exclusive)
                entry[exclusive] = True
        properties[name] = entry
    return {**schema, "properties": properties}


@extend_schema_field(openapi_schema(TrainingConfig.schema()))
class TrainingConfigField(_SettingsField):
    pass


@extend_schema_field(openapi_schema(FeatureConfig.schema()))
class FeatureConfigField(_SettingsField):
    pass


# --- model versions -----------------------------------------------------------------------------


class ModelAgeSerializer(serializers.Serializer[Any]):
    days_since_training_end = serializers.FloatField(
        help_text="Days since the last bar the model was trained on."
    )
    days_since_created = serializers.FloatField(help_text="Days since it was trained.")
    max_age_days = serializers.IntegerField(help_text="settings.ML_MODEL_MAX_AGE_DAYS")
    expires_at = serializers.DateTimeField(help_text="training_end plus max_age_days.")
    expired = serializers.BooleanField(
        help_text="Its training data ended more than max_age_days ago: train a new version."
    )


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    status = serializers.ChoiceField(choices=MODEL_STATUSES, read_only=True)
    feature_count = serializers.SerializerMethodField()
    age = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "algorithm",
            "status",
            "symbol",
            "interval",
            "training_start",
            "training_end",
            "feature_count",
            "catalogue_hash",
            "summary",
            "artifact_size",
            "age",
            "created_at",
            "activated_at",
            "retired_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "summary": {"help_text": "Walk-forward metrics over every fold."},
            "artifact_size": {"help_text": "Bytes of the model's XGBoost JSON."},
        }

    def get_feature_count(self, version: ModelVersion) -> int:
        return len(version.feature_names)

    @extend_schema_field(ModelAgeSerializer)
    def get_age(self, version: ModelVersion) -> dict[str, Any]:
        return ModelAgeSerializer(selectors.model_age(version)).data


class ModelVersionDetailSerializer(ModelVersionSerializer):
    feature_names = serializers.ListField(child=serializers.CharField(), read_only=True)
    fold_metrics = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="Each walk-forward fold's window and out-of-sample metrics.",
    )
    importance = serializers.DictField(
        child=serializers.FloatField(), read_only=True, help_text="Feature importance (gain)."
    )
    params = serializers.DictField(read_only=True, help_text="XGBoost's parameters.")
    feature_config = serializers.DictField(read_only=True)
    training_config = serializers.DictField(read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [
            *ModelVersionSerializer.Meta.fields,
            "feature_names",
            "feature_config",
            "training_config",
            "data_hash",
            "params",
            "fold_metrics",
            "importance",
            "report",
            "artifact_sha256",
        ]
        read_only_fields = fields
        extra_kwargs = {
            **ModelVersionSerializer.Meta.extra_kwargs,
            "report": {"help_text": "XGBoost against the logistic baseline, after costs."},
            "data_hash": {"help_text": "Fingerprint of the training data."},
        }


class DriftQuerySerializer(serializers.Serializer[Any]):
    bars = serializers.IntegerField(
        required=False,
        min_value=selectors.DRIFT_MIN_BARS,
        max_value=selectors.DRIFT_MAX_BARS,
        help_text="How many of the most recent bars to compare with the training window "
        "(default settings.ML_DRIFT_RECENT_BARS).",
    )


class WindowSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField(allow_null=True, help_text="The first bar's open time.")
    end = serializers.DateTimeField(allow_null=True, help_text="The last bar's open time.")
    bars = serializers.IntegerField()


class FeatureDriftSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    psi = serializers.FloatField(help_text="Population stability index.")
    level = serializers.ChoiceField(choices=DRIFT_LEVELS)


class DriftSerializer(serializers.Serializer[Any]):
    training = WindowSerializer(help_text="The bars the model was trained on.")
    recent = WindowSerializer(help_text="The most recent bars of the same symbol and interval.")
    overlap_bars = serializers.IntegerField(
        help_text="Recent bars inside the training window (no new data yet when all are)."
    )
    moderate_above = serializers.FloatField(help_text="PSI above this is a moderate shift.")
    significant_above = serializers.FloatField(help_text="PSI above this is a significant shift.")
    stable = serializers.IntegerField(help_text="Features with PSI up to moderate_above.")
    moderate = serializers.IntegerField()
    significant = serializers.IntegerField(help_text="Features with PSI above significant_above.")
    features = FeatureDriftSerializer(many=True, help_text="Most shifted first.")
    age = ModelAgeSerializer()


# --- training runs ------------------------------------------------------------------------------


class TrainingRunSerializer(serializers.ModelSerializer[TrainingRun]):
    status = serializers.ChoiceField(choices=TRAINING_STATUSES, read_only=True)
    training_config = serializers.DictField(read_only=True)
    feature_config = serializers.DictField(read_only=True)
    version = serializers.IntegerField(
        source="model_version.version",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The version number it registered.",
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "status",
            "progress",
            "message",
            "name",
            "symbol",
            "interval",
            "training_config",
            "feature_config",
            "model_version",
            "version",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "progress": {"help_text": "0 to 1."},
            "model_version": {"help_text": "The model version it registered (succeeded)."},
            "error": {"help_text": "Why it failed."},
        }


class TrainingRunStartSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    name = serializers.CharField(
        max_length=100, help_text="Register under this model name, e.g. eurusd-direction."
    )
    symbol = serializers.CharField(max_length=64, help_text="An instrument with stored candles.")
    interval = serializers.CharField(max_length=4, help_text="Candle interval, e.g. 1h.")
    training_config = TrainingConfigField(
        required=False, default=dict, help_text="Training settings; missing ones take defaults."
    )
    feature_config = FeatureConfigField(
        required=False, default=dict, help_text="Feature settings; missing ones take defaults."
    )


# --- the feature catalogue ----------------------------------------------------------------------


class FeatureSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    group = serializers.ChoiceField(choices=FEATURE_GROUPS)
    description = serializers.CharField()
    inputs = serializers.ListField(
        child=serializers.CharField(), help_text="The input columns it reads."
    )
    warm_up = serializers.IntegerField(help_text="Rows at the start of a series it is NaN.")


class FeatureQuerySerializer(serializers.Serializer[Any]):
    group = serializers.ChoiceField(choices=FEATURE_GROUPS, required=False)


class FeatureCatalogueSerializer(serializers.Serializer[Any]):
    catalogue_hash = serializers.CharField(
        help_text="Fingerprint of every definition and setting; a model version loads only "
        "with the fingerprint it was trained with."
    )
    definitions_version = serializers.IntegerField()
    config = serializers.DictField(help_text="The default feature settings.")
    features = FeatureSerializer(many=True)
