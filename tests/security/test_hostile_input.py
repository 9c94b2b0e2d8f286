"""Hostile input, over the APIs and the dashboard's forms: oversized bodies, deeply nested
JSON, unicode edge cases, numbers that are not amounts, injection strings. Each is refused with
a clear answer (400 naming the field, 413 for a body over the limit), never a server error, and
nothing is saved. Websockets from a foreign Origin, or without a session, are refused.

Free text (a strategy's name) is the one place arbitrary characters are allowed: there an
injection string is stored as the text it is and shown escaped, never run, and a template tag
in it is never evaluated (the secret key it asks for never appears).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.conf import settings as django_settings
from django.test import Client

from strategies.services import strategy_create
from tests.factories import btc_book, make_account, make_instrument, make_user
from tests.security.conftest import session_client, token_client

APPS = ("execution", "strategies", "copytrading", "mlmodels")

DECIMALS = [
    "-1", "-0.0001", "0", "1e400", "-1e400", "1E+30", "1e-30", "9" * 60, "0." + "0" * 60 + "1",
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1_000", "0x10", "1,5", "", " ",
    "\u0661\u0662", "\uff11\uff12", "1.5e", "--1", "1e99999999999",
]  # fmt: skip
UNICODE = [
    "BTC-USDT\x00", "\x00", "\ud800", "BTC\udfff-USDT", "\u202eTDSU-CTB", "BTC\u200b-USDT",
    "\u0412\u0422\u0421-USDT", "\uff22\uff34\uff23-USDT", "BTC-USDT\u0301", "B" * 10_000,
    "\ufeffBTC-USDT", "BTC\nUSDT",
]  # fmt: skip
INJECTION = [
    "BTC-USDT' OR '1'='1", "'; DROP TABLE execution_order; --", '" OR ""="',
    "1; SELECT pg_sleep(5)",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{{ settings.SECRET_KEY }}",
    "{% debug %}", "${7*7}", "../../etc/passwd", "%s%s%s%n", "\\u0000",
]  # fmt: skip

ORDER = {"symbol": "BTC-USDT", "side": "buy", "order_type": "limit", "quantity": "0.01",
         "price": "20000"}  # fmt: skip


def row_state() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed
    }


@pytest.fixture
def trader(db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None},
    }
    from datetime import UTC, datetime

    make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=Decimal(50))
    user = make_user("carol")
    account = make_account(user, name="carol-main")
    return {"user": user, "account": account, "api": token_client(user)}


def assert_refused(response: Any, field: str | None) -> None:
    """400 naming the field; or 422 for an amount that is a number but one pre-trade risk
    refuses (1E+30 BTC), with the field named by the failed checks."""
    body = response.json()
    if response.status_code == 422 and field is not None:
        assert body["code"] == "order_refused", body
        assert field in {v["field"] for v in body["violations"]}, (field, body)
        return
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert body["code"] in ("invalid", "parse_error", "rule_violation"), body
    if field is not None:
        named = set(body["errors"]) | {key.split(".")[0] for key in body["errors"]}
        assert field in named or field in body["detail"], (field, body)


def post(api: Any, path: str, body: Any) -> Any:
    return api.post(path, json.dumps(body), content_type="application/json")


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["quantity", "price"])
def test_amounts_that_are_not_positive_finite_decimals_are_refused(trader, field):
    before = row_state()
    for value in DECIMALS:
        response = post(trader["api"], "/api/v1/trading/orders/", {**ORDER, field: value})
        assert_refused(response, field)
    # The same as JSON numbers, not strings (read as Decimal, never through a float).
    for value in ("-1", "0", "1e400", "1E+30", "1e-30", "9" * 60):
        raw = json.dumps(ORDER).replace(f'"{ORDER[field]}"', value)
        response = trader["api"].post(
            "/api/v1/trading/orders/", raw, content_type="application/json"
        )
        assert_refused(response, field)
    assert row_state() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_numbers_are_a_parse_error(trader, literal):
    raw = json.dumps(ORDER).replace('"0.01"', literal)
    before = row_state()
    response = trader["api"].post("/api/v1/trading/orders/", raw, content_type="application/json")
    assert_refused(response, None)
    assert literal in response.json()["detail"]
    assert row_state() == before


def test_copy_terms_and_strategy_settings_refuse_hostile_numbers(trader):
    leader = make_user("leader")
    public = strategy_create(
        owner_id=leader.pk, name="public", kind="sma_crossover",
        account_id=make_account(leader, name="leader-main").pk, symbols=["BTC-USDT"],
        interval="1h", config={"fast_window": 5, "slow_window": 30}, visibility="public",
    )  # fmt: skip
    api, before = trader["api"], row_state()
    for value in ("-1", "NaN", "Infinity", "1e400", "1E+30", "101"):
        response = post(api, "/api/v1/copytrading/subscriptions/", {
            "account": trader["account"].pk, "strategy": public.pk, "allocation_percent": value,
        })  # fmt: skip
        assert_refused(response, "allocation_percent")
        response = post(api, "/api/v1/strategies/", {
            "name": "s", "kind": "sma_crossover", "account": trader["account"].pk,
            "instruments": ["BTC-USDT"], "interval": "1h", "confidence_threshold": value,
        })  # fmt: skip
        assert_refused(response, "confidence_threshold")
    for value in (-1, 0, 2**63, 10**30, "1e3"):
        response = post(api, "/api/v1/strategies/", {
            "name": "s", "kind": "sma_crossover", "account": trader["account"].pk,
            "instruments": ["BTC-USDT"], "interval": "1h", "config": {"fast_window": value},
        })  # fmt: skip
        assert_refused(response, "config")
    assert row_state() == before


# --- strings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", UNICODE + INJECTION, ids=lambda v: repr(v)[:30])
def test_hostile_strings_in_fields_with_a_vocabulary_are_refused(trader, value):
    api, before = trader["api"], row_state()
    for field in ("symbol", "side", "order_type", "client_order_id", "time_in_force"):
        response = post(api, "/api/v1/trading/orders/", {**ORDER, field: value})
        assert_refused(response, field)
    response = post(api, "/api/v1/strategies/", {
        "name": "ok", "kind": value, "account": trader["account"].pk,
        "instruments": ["BTC-USDT"], "interval": "1h",
    })  # fmt: skip
    assert_refused(response, "kind")
    for field, body in (
        ("instruments", {"instruments": [value], "interval": "1h"}),
        ("interval", {"instruments": ["BTC-USDT"], "interval": value}),
    ):
        response = post(api, "/api/v1/strategies/", {
            "name": "ok", "kind": "sma_crossover", "account": trader["account"].pk, **body,
        })  # fmt: skip
        assert_refused(response, field)
    assert row_state() == before


@pytest.mark.parametrize(
    "value", ["\x00", "a\x00b", "\ud800", "x\udfffy"], ids=["nul", "nul-inside", "hi", "lo"]
)
def test_nul_bytes_and_lone_surrogates_are_refused_anywhere_in_a_body(trader, value):
    """Neither can be stored (PostgreSQL refuses NUL in text, UTF-8 has no lone surrogates):
    refused where the parser reads them, naming the field, in values and keys alike."""
    api, before = trader["api"], row_state()
    response = post(api, "/api/v1/strategies/", {
        "name": value, "kind": "sma_crossover", "account": trader["account"].pk,
        "instruments": ["BTC-USDT"], "interval": "1h",
    })  # fmt: skip
    assert_refused(response, "name")
    response = post(api, "/api/v1/strategies/", {
        "name": "ok", "kind": "sma_crossover", "account": trader["account"].pk,
        "instruments": ["BTC-USDT"], "interval": "1h", "config": {value: 5},
    })  # fmt: skip
    assert_refused(response, "config")
    response = post(api, "/api/v1/trading/parent-orders/", {
        "symbol": "BTC-USDT", "side": "buy", "quantity": "0.01", "algorithm": "twap",
        "params": {"duration": 60, "note": [value]},
    })  # fmt: skip
    assert_refused(response, "params")
    assert row_state() == before


@pytest.mark.parametrize("value", ["\x00", "\ud800", "B" * 5000, "' OR 1=1 --", "<b>"])
def test_hostile_strings_in_query_strings_and_paths_are_refused_or_not_found(trader, value):
    api = trader["api"]
    from urllib.parse import quote

    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    for path in (
        f"/api/v1/trading/orders/?instrument={encoded}",
        f"/api/v1/trading/trades/?instrument={encoded}",
        f"/api/v1/trading/statistics/?account={encoded}",
        f"/api/v1/trading/performance/?start_date={encoded}",
        f"/api/v1/strategies/signals/?strategy={encoded}",
        f"/api/v1/ml/features/?group={encoded}",
    ):
        response = api.get(path)
        assert response.status_code in (200, 400), (path, response.status_code)
        if response.status_code == 200:
            assert response.json().get("count", 0) == 0
    for path in (
        f"/api/v1/trading/positions/{encoded}/",
        f"/api/v1/trading/orders/{encoded}/",
        f"/api/v1/strategies/{encoded}/",
        f"/api/v1/copytrading/subscriptions/{encoded}/",
    ):
        response = api.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)


def test_free_text_is_stored_as_text_and_shown_escaped_never_run(trader):
    api = trader["api"]
    name = "<script>alert(1)</script>{{ settings.SECRET_KEY }}{% debug %}' OR '1'='1"
    response = post(api, "/api/v1/strategies/", {
        "name": name, "kind": "sma_crossover", "account": trader["account"].pk,
        "instruments": ["BTC-USDT"], "interval": "1h",
    })  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["name"] == name  # stored and answered as sent
    strategy_id = response.json()["id"]
    page = session_client(trader["user"])
    for path in ("/strategies/", f"/strategies/{strategy_id}/"):
        html = page.get(path).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "{{ settings.SECRET_KEY }}" in html
        assert django_settings.SECRET_KEY not in html


# --- structure and size ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 5_000, 100_000])
def test_deeply_nested_json_is_refused_not_a_server_error(trader, depth):
    before = row_state()
    nested = "[" * depth + "]" * depth
    raw = json.dumps({**ORDER, "client_order_id": "deep1"}).replace('"deep1"', nested)
    for path in ("/api/v1/trading/orders/", "/api/v1/strategies/"):
        response = trader["api"].post(path, raw, content_type="application/json")
        assert_refused(response, None)
        assert "deep" in response.json()["detail"]
    config = '{"a":' * depth + "1" + "}" * depth
    raw = (
        f'{{"name": "d", "kind": "sma_crossover", "account": {trader["account"].pk}, '
        f'"instruments": ["BTC-USDT"], "interval": "1h", "config": {config}}}'
    )
    response = trader["api"].post("/api/v1/strategies/", raw, content_type="application/json")
    assert_refused(response, None)
    assert row_state() == before


def test_a_body_over_the_upload_limit_is_413_for_the_api_and_the_forms(trader, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    before = row_state()
    big = {**ORDER, "client_order_id": "x" * 200_000}
    response = post(trader["api"], "/api/v1/trading/orders/", big)
    assert response.status_code == 413, response.status_code
    assert response.json()["code"] == "request_too_large"
    page = session_client(trader["user"])
    response = page.post("/copy/follow/", {"follow-account": "1", "pad": "x" * 200_000})
    assert response.status_code == 413
    response = Client().post(
        "/api/v1/auth/token/", {"username": "carol", "password": "x" * 200_000}
    )
    assert response.status_code == 413
    assert row_state() == before


def test_many_fields_and_very_long_lists_are_refused(trader, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
    page = session_client(trader["user"])
    response = page.post("/copy/follow/", {f"f{i}": "1" for i in range(2000)})
    assert response.status_code in (400, 413)
    response = post(trader["api"], "/api/v1/strategies/", {
        "name": "l", "kind": "sma_crossover", "account": trader["account"].pk,
        "instruments": ["BTC-USDT"] * 50_000, "interval": "1h",
    })  # fmt: skip
    assert_refused(response, "instruments")


def test_a_body_that_is_not_json_or_not_an_object_is_refused(trader):
    api = trader["api"]
    for raw in ("", "null", "[]", '"text"', "42", "{", '{"a": 1,}', "\xff\xfe", "{'a': 1}"):
        response = api.post("/api/v1/trading/orders/", raw, content_type="application/json")
        assert response.status_code == 400, (raw, response.status_code)
    response = api.post(
        "/api/v1/trading/orders/", b"\xff\xfe\x00{", content_type="application/json"
    )
    assert response.status_code == 400


# --- forms ----------------------------------------------------------------------------------------


def test_the_dashboard_forms_refuse_hostile_values_and_save_nothing(trader):
    page = session_client(trader["user"])
    before = row_state()
    for value in [*DECIMALS[:12], "\x00", "<script>", "{{ 7*7 }}"]:
        response = page.post(
            "/copy/follow/",
            {"follow-account": trader["account"].pk, "follow-strategy": value,
             "follow-allocation_percent": value},
        )  # fmt: skip
        assert response.status_code in (200, 400), response.status_code
        assert b"Server Error" not in response.content
    assert row_state() == before


# --- websockets -----------------------------------------------------------------------------------


def _connect(headers: list[tuple[bytes, bytes]]) -> tuple[bool, Any]:
    from tradingsite.asgi import application

    async def scenario() -> tuple[bool, Any]:
        communicator = WebsocketCommunicator(application, "/ws/account/", headers=headers)
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_websockets_from_a_foreign_origin_or_without_a_session_are_refused():
    user = make_user("dave")
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    session = (b"cookie", f"{cookie.key}={cookie.value}".encode())
    host = (b"host", b"localhost")
    assert _connect([(b"origin", b"http://localhost"), host, session])[0]  # the control
    for origin in (b"https://evil.example", b"http://localhost.evil.example", b"null",
                   b"http://127.0.0.1.evil.example", b"file://"):  # fmt: skip
        assert not _connect([(b"origin", origin), host, session])[0], origin
    assert not _connect([host, session])[0]  # no Origin at all
    assert _connect([(b"origin", b"http://localhost"), host]) == (False, 4401)  # no session
    forged = (b"cookie", f"{cookie.key}=forged{cookie.value[6:]}".encode())
    assert _connect([(b"origin", b"http://localhost"), host, forged]) == (False, 4401)
