"""Logging: which order, strategy and account a log line is about, as text or JSON lines.

Ids come from two places. A record may carry them itself (``extra={"order_id": ...}``, as the
audit trail's lines do: execution.services.events). Otherwise they come from the trade context
of the running code: a Celery task binds the ids its arguments name (an order, a parent order,
a fill, an account, a strategy) for as long as it runs (tradingsite.celery), so every line its
services log, a library's included, says which trade it belongs to. ``TradeIdsFilter``, on the
handlers, copies the context onto each record that lacks them.

``LOG_FORMAT=json`` (production's default) writes one JSON object a line for a log shipper;
``text`` (elsewhere) writes readable lines with the ids at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from pythonjsonlogger.json import JsonFormatter

TRADE_ID_FIELDS = ("order_id", "parent_order_id", "account_id", "strategy_id")

_trade_ids: ContextVar[Mapping[str, str]] = ContextVar("trade_ids", default={})  # noqa: B039


def trade_ids() -> Mapping[str, str]:
    """The ids bound in this context (a task, a request's thread)."""
    return _trade_ids.get()


def trade_ids_bind(**ids: object) -> Token[Mapping[str, str]]:
    """Add ids (None values skipped) to this context; reset with the returned token."""
    known = {name: str(value) for name, value in ids.items() if value is not None}
    unknown = set(known) - set(TRADE_ID_FIELDS)
    if unknown:
        raise ValueError(f"not a trade id field: {', '.join(sorted(unknown))}")
    return _trade_ids.set({**_trade_ids.get(), **known})


def trade_ids_reset(token: Token[Mapping[str, str]]) -> None:
    _trade_ids.reset(token)


@contextmanager
def trade_ids_bound(**ids: object) -> Iterator[None]:
    token = trade_ids_bind(**ids)
    try:
        yield
    finally:
        trade_ids_reset(token)


class TradeIdsFilter(logging.Filter):
    """Puts the context's trade ids on a record that does not carry them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _trade_ids.get().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """A readable line, the record's trade ids at its end: ``... [order_id=... account_id=3]``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={value}"
            for name in TRADE_ID_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        return f"{line} [{' '.join(ids)}]" if ids else line


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the trade ids and any other
    ``extra`` fields; an exception's traceback as ``exc_info``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level"})
        kwargs.setdefault("json_default", str)  # Decimal, UUID, datetime: as text
        super().__init__(*args, **kwargs)


def logging_config(*, json_lines: bool, level: str, audit_level: str) -> dict[str, Any]:
    """The LOGGING setting: one console handler with the trade ids filter.

    ``audit_level`` is the level of ``execution.audit``, one line per audit event (an order
    placed, sent, filled, a signal executed): WARNING quiets them, say for a benchmark.
    """
    formatter = (
        {"()": "tradingsite.logs.JsonLineFormatter"}
        if json_lines
        else {
            "()": "tradingsite.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trade_ids": {"()": "tradingsite.logs.TradeIdsFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["trade_ids"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"execution.audit": {"level": audit_level}},
    }
