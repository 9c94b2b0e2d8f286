"""Celery's result backend: django-celery-results' database backend, surviving a lost
database connection.

A task whose database connection dies under it (a failover, a restart of PostgreSQL, an
administrator's pg_terminate_backend) fails or retries, and Celery writes that down through
the same connection: the write fails too, the error escapes Celery's error handling and the
worker exits ("Unrecoverable error"), leaving every task it had for the next one. Here such a
write closes the dead connection and tries again on a fresh one (with
CELERY_RESULT_BACKEND_ALWAYS_RETRY), as the stock backend does only for InterfaceError, not
for the OperationalError psycopg 3 raises.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends.database import (  # type: ignore[import-untyped]
    DatabaseBackend as StockDatabaseBackend,
)


class DatabaseBackend(StockDatabaseBackend):
    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, InterfaceError | OperationalError):
            connection.close()
            return True
        return bool(super().exception_safe_to_retry(exc))
