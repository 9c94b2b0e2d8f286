"""Errors of the model registry, each with a message a person can act on."""

from __future__ import annotations

from execution.domain.errors import DomainError


class ModelRegistryError(DomainError):
    """A training request, a status change or a load refused. ``field`` names the input at
    fault when there is one (``symbol``, ``training_config.folds``), for field-level errors."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FeatureMismatch(ModelRegistryError):
    """A model version was trained on feature definitions other than this library's."""


class NoActiveModel(ModelRegistryError):
    """No version of a model name is active, so there is nothing to predict with."""
