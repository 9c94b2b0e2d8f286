"""The REST API of the model registry, under /api/v1/ml/."""
