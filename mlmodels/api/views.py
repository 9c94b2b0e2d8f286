"""API views of the model registry: validate, call a service or a selector, serialize.

Model versions are shared platform objects: anyone signed in reads them; activating and
retiring them, and starting a training, are for staff (403 for others). A training run is its
requester's: anyone else's answers 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters as filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from execution.api.access import query_params, request_owner_id
from execution.api.errors import NON_FIELD, error_responses
from execution.api.filters import BIGINT_MAX
from mlmodels import selectors
from mlmodels.api.serializers import (
    MODEL_STATUSES,
    DriftQuerySerializer,
    DriftSerializer,
    FeatureCatalogueSerializer,
    FeatureQuerySerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    TrainingRunSerializer,
    TrainingRunStartSerializer,
)
from mlmodels.drift import MODERATE, SIGNIFICANT
from mlmodels.errors import ModelRegistryError
from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue, catalogue_hash
from mlmodels.models import ModelVersion, TrainingRun
from mlmodels.services import (
    model_version_activate,
    model_version_retire,
    training_run_start,
)

STAFF_ONLY = "Staff only: other users get 403."


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses(
        "Invalid input, or refused by the registry (the message says why).", *codes
    )


def _refused(error: ModelRegistryError) -> serializers.ValidationError:
    """A refusal as a field-level error (the field the registry named, or the request's)."""
    return serializers.ValidationError({error.field or NON_FIELD: [str(error)]})


class IsStaff(BasePermission):
    message = "Only staff may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


# --- model versions -----------------------------------------------------------------------------


class ModelVersionFilter(filters.FilterSet):
    name = filters.CharFilter(help_text="One model name, e.g. eurusd-direction.")
    status = filters.MultipleChoiceFilter(
        choices=[(s, s) for s in MODEL_STATUSES],
        help_text="Repeat for several: status=candidate&status=active.",
    )
    symbol = filters.CharFilter(help_text="Trained on this instrument's candles.")

    class Meta:
        model = ModelVersion
        fields: list[str] = []


MODELS_DESCRIPTION = """
Trained model versions, shared by everyone on the platform. Each records what it was trained
on (symbol, interval, window, feature list and catalogue fingerprint, data fingerprint), its
walk-forward metrics and its status: `candidate` when trained, `active` when it predicts for its
name (at most one version per name), `retired` when taken out of use.
"""


@extend_schema_view(
    list=extend_schema(
        summary="Model versions, by name and newest version first",
        description=MODELS_DESCRIPTION,
        responses={200: ModelVersionSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One model version, with its folds, importance and report",
        description="Everything but the model itself (its XGBoost JSON: see `artifact_size`, "
        "and the admin for a download).",
        responses={200: ModelVersionDetailSerializer, **_errors(404)},
    ),
)
class ModelVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ModelVersion]
):
    filterset_class = ModelVersionFilter

    def get_serializer_class(self) -> type[ModelVersionSerializer]:
        return ModelVersionSerializer if self.action == "list" else ModelVersionDetailSerializer

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("activate", "retire"):
            return [permissions.IsAuthenticated(), IsStaff()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.model_versions().order_by("name", "-version")

    def get_object(self) -> ModelVersion:
        pk = str(self.kwargs["pk"])
        if not pk.isascii() or not pk.isdigit() or int(pk) > BIGINT_MAX:
            raise Http404(f"there is no model version {pk}")
        version = self.get_queryset().filter(pk=int(pk)).first()
        if version is None:
            raise Http404(f"there is no model version {pk}")
        self.check_object_permissions(self.request, version)
        return version

    def _current(self, version_id: int) -> Response:
        version = self.get_queryset().get(pk=version_id)
        return Response(ModelVersionDetailSerializer(version).data)

    @extend_schema(
        summary="Activate a model version",
        description="It becomes the version that predicts for its name; the active one, if "
        "any, is retired in the same transaction. A retired version may be activated again "
        "(a rollback). Refused (400) when the feature library no longer computes the features "
        f"it was trained on, naming the differences. {STAFF_ONLY}",
        request=None,
        responses={200: ModelVersionDetailSerializer, **_errors(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        try:
            model_version_activate(version_id=version.pk)
        except ModelRegistryError as error:
            raise _refused(error) from None
        return self._current(version.pk)

    @extend_schema(
        summary="Retire a model version",
        description="It stops predicting; retiring the active version leaves its name with "
        f"none active until another is activated. {STAFF_ONLY}",
        request=None,
        responses={200: ModelVersionDetailSerializer, **_errors(403, 404)},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        model_version_retire(version_id=version.pk)
        return self._current(version.pk)

    @extend_schema(
        summary="Drift and age of a model version",
        description="The population stability index (PSI) of each feature between the "
        "training window and the most recent `bars` bars of the same symbol and interval: "
        f"up to {MODERATE} stable, up to {SIGNIFICANT} a moderate shift, above it a "
        "significant one (the model sees inputs unlike those it learnt from). Each is "
        "computed as the model's training computed it; order-flow and book features of a "
        "candle-trained model are 0 throughout, so stable. And its age: days since its "
        "training data ended and since it was trained, expired after "
        "settings.ML_MODEL_MAX_AGE_DAYS.",
        parameters=[DriftQuerySerializer],
        responses={200: DriftSerializer, **_errors(400, 404)},
    )
    @action(detail=True)
    def drift(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        bars = query_params(DriftQuerySerializer, request).get("bars")
        try:
            report = selectors.model_drift(version, recent_bars=bars)
        except ModelRegistryError as error:
            raise _refused(error) from None
        body = {
            "training": report.training,
            "recent": report.recent,
            "overlap_bars": report.overlap_bars,
            "moderate_above": MODERATE,
            "significant_above": SIGNIFICANT,
            "stable": report.count("stable"),
            "moderate": report.count("moderate"),
            "significant": report.count("significant"),
            "features": report.features,
            "age": selectors.model_age(version),
        }
        return Response(DriftSerializer(body).data)


# --- training runs ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your training runs, newest first",
        responses={200: TrainingRunSerializer(many=True), **_errors(400)},
    ),
    retrieve=extend_schema(
        summary="One of your training runs: its status and progress",
        responses={200: TrainingRunSerializer, **_errors(404)},
    ),
)
class TrainingRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[TrainingRun]
):
    serializer_class = TrainingRunSerializer

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [permissions.IsAuthenticated(), IsStaff()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[TrainingRun]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return TrainingRun.objects.none()
        return selectors.training_runs_for_requester(request_owner_id(self.request)).order_by(
            "-created_at", "-pk"
        )

    @extend_schema(
        summary="Train a model",
        description="Checks the request (a model name, an instrument with candles of that "
        "interval stored, valid settings) and queues the training of a new candidate version on "
        "every stored candle; 201 with the run, whose `progress` and `message` move as it "
        "trains. Nothing is written when the request is refused. " + STAFF_ONLY,
        request=TrainingRunStartSerializer,
        examples=[
            OpenApiExample(
                "EURUSD hourly, default settings",
                request_only=True,
                value={"name": "eurusd-direction", "symbol": "EURUSD", "interval": "1h"},
            )
        ],
        responses={201: TrainingRunSerializer, **_errors(400, 403)},
    )
    def create(self, request: Request) -> Response:
        form = TrainingRunStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            run = training_run_start(
                requested_by_id=request_owner_id(request), **form.validated_data
            )
        except ModelRegistryError as error:
            raise _refused(error) from None
        run = self.get_queryset().get(pk=run.pk)  # eager tasks may have trained it already
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


# --- the feature catalogue ----------------------------------------------------------------------


class FeatureCatalogueView(APIView):
    @extend_schema(
        summary="The feature catalogue",
        description="Every feature of the library with the default settings: its group, what "
        "it measures, the input columns it reads and its warm-up (rows it is NaN at the start "
        "of a series), and the catalogue's fingerprint that model versions are checked against.",
        parameters=[FeatureQuerySerializer],
        responses={200: FeatureCatalogueSerializer, **_errors(400)},
    )
    def get(self, request: Request) -> Response:
        group = query_params(FeatureQuerySerializer, request).get("group")
        config = FeatureConfig()
        body = {
            "catalogue_hash": catalogue_hash(config),
            "definitions_version": DEFINITIONS_VERSION,
            "config": config.to_dict(),
            "features": [
                spec.as_dict()
                for spec in catalogue(config)
                if group is None or spec.group.value == group
            ],
        }
        return Response(FeatureCatalogueSerializer(body).data)
