"""Admin for the model registry. Versions and training runs are read-only records: a version's
status changes only through the activate and retire actions, which call the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from execution.admin import ReadOnlyAdmin
from mlmodels import selectors
from mlmodels.errors import ModelRegistryError
from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue, catalogue_hash
from mlmodels.models import FeatureCatalogueEntry, ModelVersion, TrainingRun
from mlmodels.registry import datetime_from_ns
from mlmodels.services import model_version_activate, model_version_retire


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    if size < 1024**2:
        return f"{size / 1024:,.1f} KB"
    return f"{size / 1024**2:,.1f} MB"


_VERSION = ("name", "version", "status", "algorithm", "created_at", "activated_at",
            "retired_at", "age")  # fmt: skip
_TRAINED_ON = ("symbol", "interval", "training_start", "training_end", "data_hash",
               "training_config", "params")  # fmt: skip
_FEATURES = ("catalogue_hash", "feature_check", "feature_config", "feature_names")
_WALK_FORWARD = ("summary", "folds", "importance_table", "report_text")
_ARTIFACT = ("artifact_download", "artifact_sha256")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "status", "algorithm", "symbol", "interval",
                    "training_start", "training_end", "artifact_kb", "created_at")  # fmt: skip
    list_filter = ("status", "name", "algorithm", "symbol")
    search_fields = ("name", "symbol", "catalogue_hash", "data_hash")
    date_hierarchy = "created_at"
    actions = ("activate_versions", "retire_versions")
    fieldsets = (
        (None, {"fields": _VERSION}),
        ("Trained on", {"fields": _TRAINED_ON}),
        ("Features", {"fields": _FEATURES}),
        ("Walk-forward", {"fields": _WALK_FORWARD}),
        ("Artifact", {"fields": _ARTIFACT}),
    )
    readonly_fields = _VERSION + _TRAINED_ON + _FEATURES + _WALK_FORWARD + _ARTIFACT

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).defer("artifact")

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<int:version_id>/artifact/",
            self.admin_site.admin_view(self.artifact_view),
            name="mlmodels_modelversion_artifact",
        )
        return [download, *super().get_urls()]

    def artifact_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion, pk=version_id)
        response = HttpResponse(version.artifact, content_type="application/json")
        filename = f"{version.name}-v{version.version}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.display(description="artifact", ordering="artifact_size")
    def artifact_kb(self, version: ModelVersion) -> str:
        return _size(version.artifact_size)

    @admin.display(description="artifact (XGBoost JSON)")
    def artifact_download(self, version: ModelVersion) -> str:
        url = reverse("admin:mlmodels_modelversion_artifact", args=[version.pk])
        return format_html('<a href="{}">download</a> ({})', url, _size(version.artifact_size))

    @admin.display(description="age")
    def age(self, version: ModelVersion) -> str:
        age = selectors.model_age(version)
        state = "expired" if age.expired else f"expires {age.expires_at:%Y-%m-%d}"
        return (
            f"{age.days_since_training_end:,.1f} days since its data ended ({state}); "
            f"trained {age.days_since_created:,.1f} days ago"
        )

    @admin.display(description="against the library now")
    def feature_check(self, version: ModelVersion) -> str:
        differences = selectors.feature_differences(version)
        return "matches" if not differences else "does not load: " + "; ".join(differences)

    @admin.display(description="folds")
    def folds(self, version: ModelVersion) -> str:
        rows: list[dict[str, Any]] = version.fold_metrics
        if not rows:
            return "-"
        columns = list(rows[0])
        head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((_cell(row.get(c), c),) for c in columns)),)
                for row in rows
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", head, body)

    @admin.display(description="importance")
    def importance_table(self, version: ModelVersion) -> str:
        ranked = sorted(version.importance.items(), key=lambda item: -item[1])[:20]
        if not ranked:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((n, _cell(v)) for n, v in ranked)
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description="report")
    def report_text(self, version: ModelVersion) -> str:
        return format_html("<pre>{}</pre>", version.report)

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("mlmodels.change_modelversion"))

    @admin.action(
        description="Activate the selected version (retires the active one of its name)",
        permissions=["activate"],
    )
    def activate_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset.order_by("pk"):
            try:
                model_version_activate(version_id=version.pk)
            except ModelRegistryError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, f"activated {version.name} v{version.version}")

    @admin.action(description="Retire the selected versions", permissions=["activate"])
    def retire_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset.order_by("pk"):
            model_version_retire(version_id=version.pk)
            self.message_user(request, f"retired {version.name} v{version.version}")


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return "-"
    if key.endswith(("_start", "_end")) and isinstance(value, int):  # ns since the epoch
        return f"{datetime_from_ns(value):%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "symbol", "interval", "status", "progress_percent", "message",
                    "model_version", "requested_by", "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "name", "symbol")
    search_fields = ("id", "name", "symbol", "requested_by__username")
    list_select_related = ("model_version", "requested_by")
    date_hierarchy = "created_at"

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, run: TrainingRun) -> str:
        return f"{run.progress:.0%}"


@admin.register(FeatureCatalogueEntry)
class FeatureCatalogueAdmin(ReadOnlyAdmin):
    """The catalogue is code, not rows: one page lists it, and there are no others."""

    def get_urls(self) -> list[URLPattern]:
        page = self.admin_site.admin_view(self.changelist_view)
        return [path("", page, name="mlmodels_featurecatalogueentry_changelist")]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        config = FeatureConfig()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Feature catalogue",
            "features": [spec.as_dict() for spec in catalogue(config)],
            "catalogue_hash": catalogue_hash(config),
            "definitions_version": DEFINITIONS_VERSION,
            "config": sorted(config.to_dict().items()),
        }
        return TemplateResponse(request, "admin/mlmodels/feature_catalogue.html", context)
