"""The model registry: trained model versions and the training runs that make them.

Persistence only, with the invariants as database constraints: a version number is unique per
model name, and at most one version of a name is active (a partial unique index).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


class ModelVersion(models.Model):
    """One trained model: what it was trained on (features, data, window), how it did
    walk-forward, and the model itself in XGBoost's JSON format (``artifact``)."""

    name = models.CharField(max_length=100, help_text="e.g. eurusd-direction")
    version = models.PositiveIntegerField(help_text="1, 2, ... per name")
    algorithm = models.CharField(max_length=32, default="xgboost")
    status = models.CharField(
        max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE
    )
    # What it reads: the feature columns in order, and the definitions they came from.
    feature_names = models.JSONField(default=list)
    catalogue_hash = models.CharField(max_length=64)
    feature_catalogue = models.JSONField(
        default=list,
        help_text="The catalogue at training time, [name, group, inputs, warm_up] per feature: "
        "a mismatch on loading is reported feature by feature.",
    )
    definitions_version = models.PositiveIntegerField()
    feature_config = models.JSONField(default=dict)
    training_config = models.JSONField(default=dict)
    # What it was trained on.
    symbol = models.CharField(max_length=64)
    interval = models.CharField(max_length=4)
    training_start = models.DateTimeField()
    training_end = models.DateTimeField(help_text="The last bar's open time.")
    data_hash = models.CharField(max_length=64)
    # How it did.
    params = models.JSONField(default=dict)
    fold_metrics = models.JSONField(default=list)
    summary = models.JSONField(default=dict)
    report = models.TextField(blank=True)
    importance = models.JSONField(default=dict)
    # Text, not bytes: XGBoost's JSON is ASCII, readable with any SQL client, and PostgreSQL
    # compresses large values (TOAST) by itself. Size and digest are kept beside it so lists
    # never load it.
    artifact = models.TextField()
    artifact_size = models.PositiveBigIntegerField()
    artifact_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status=ModelStatus.ACTIVE),
                name="model_version_one_active_per_name",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="model_version_from_one"),
            models.CheckConstraint(
                condition=Q(status__in=ModelStatus.values), name="model_version_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(training_end__gte=models.F("training_start")),
                name="model_version_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


class TrainingStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class TrainingRun(models.Model):
    """A request to train a model, run by a Celery task; ``progress`` and ``message`` say how
    far it is, ``model_version`` what it made."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=TrainingStatus.choices, default=TrainingStatus.QUEUED
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    message = models.CharField(max_length=200, blank=True)
    # What to train: the arguments of model_train.
    name = models.CharField(max_length=100, help_text="The model name to register under.")
    symbol = models.CharField(max_length=64)
    interval = models.CharField(max_length=4)
    training_config = models.JSONField(default=dict)
    feature_config = models.JSONField(default=dict)
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="training_runs",
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_runs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1),
                name="training_run_progress_fraction",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TrainingStatus.values), name="training_run_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=TrainingStatus.SUCCEEDED) | Q(model_version__isnull=False),
                name="training_run_success_has_version",
            ),
        ]

    def __str__(self) -> str:
        return f"training {self.name} on {self.symbol} {self.interval}: {self.status}"


class FeatureCatalogueEntry(models.Model):
    """No table: gives the feature catalogue (``mlmodels.features.catalogue``, code, not
    rows) a read-only page of its own in the admin."""

    name = models.CharField(max_length=100, primary_key=True)

    class Meta:
        managed = False
        verbose_name = "feature"
        verbose_name_plural = "feature catalogue"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return self.name
