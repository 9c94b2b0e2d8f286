"""How keys and sign-in attempts are identified (pure: no database)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any


def key_hash(key: str) -> str:
    """What is stored of an API key. A plain SHA-256 is enough: keys are random, not passwords."""
    return hashlib.sha256(key.encode()).hexdigest()


def sign_in_key(username: str) -> str:
    """Sign-ins are counted per username as typed, case-folded ("Alice" and "alice" together)."""
    return username.casefold()[:150]


def client_ip(meta: Mapping[str, Any]) -> str:
    """The address the request came from, as the server saw it (behind a proxy, the server
    must put the client's address there: daphne --proxy-headers, gunicorn's forwarded-allow-ips).
    X-Forwarded-For is not read here: any client can write it."""
    raw = str(meta.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return "0.0.0.0"  # nosec B104: not a bind address; one bucket for unknown callers
