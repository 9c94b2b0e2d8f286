"""Request parsing."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


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
        try:
            return json.load(
                codecs.getreader(encoding)(stream),
                parse_float=Decimal,
                parse_constant=_refuse_constant,
            )
        except ValueError as error:
            raise ParseError(f"JSON parse error: {error}") from None
