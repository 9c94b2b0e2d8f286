"""Request parsing: JSON bodies read as Decimal, and refused whole when they are hostile.

A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` answers 413 (DRF reads the stream itself, past the
limit Django applies to forms). JSON nested deeper than ``MAX_JSON_DEPTH`` is a parse error,
not a RecursionError deep in the decoder or a serializer. A string holding a NUL character or
a lone surrogate, which no column can store (PostgreSQL refuses NUL in text; UTF-8 has no
surrogates), is refused naming the field where it was found, in keys and values alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # the deepest legitimate body (a comparison's runs' configs) is 4


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _unstorable(text: str) -> str | None:
    """Why a string cannot be stored, or None when it can."""
    if "\x00" in text:
        return "must not contain NUL (\\u0000) characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (not valid unicode)"
    return None


def body_checked(data: Any) -> Any:
    """The parsed body, walked without recursion: too deep is a parse error, strings that
    cannot be stored are refused by their path (``config.window``, ``params.levels.0``)."""
    errors: dict[str, list[str]] = {}
    pending: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while pending:
        value, path = pending.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested too deep: more than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            problem = _unstorable(value)
            if problem is not None:
                errors.setdefault(".".join(path) or "non_field_errors", []).append(problem)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                problem = _unstorable(key)
                name = ".".join((*path, key)) if problem is None else ".".join(path)
                if problem is not None:
                    errors.setdefault(name or "non_field_errors", []).append(f"a key {problem}")
                    continue
                pending.append((item, (*path, key)))
        elif isinstance(value, list):
            pending.extend((item, (*path, str(i))) for i, item in enumerate(value))
    if errors:
        raise ValidationError(errors)
    return data


class DecimalJSONParser(JSONParser):
    """JSON with its numbers read as Decimal: `0.1` stays exactly 0.1 on its way to a price,
    where a float would have been rounded to the nearest binary fraction first."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"JSON parse error: the body is not valid {encoding}") from None
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(f"JSON nested too deep: more than {MAX_JSON_DEPTH} levels") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error: {error}") from None
        return body_checked(data)
