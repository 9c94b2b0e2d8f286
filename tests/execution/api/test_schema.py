"""The OpenAPI schema, the docs page served without a network, and generated requests against
every operation (schemathesis): none may answer a server error."""

import re
from decimal import Decimal as D
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import api_token_create
from execution.services.algos import parent_order_place
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place
from tests.execution.api.conftest import place_filled
from tests.schema_fuzz import api_operations, server_errors


def test_the_schema_generates_without_warnings(db, tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn: an under-specified field or an ambiguous enum fails here.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/trading/orders/{id}/" in text and "/api/v1/trading/performance/" in text


def test_the_schema_is_served_to_anyone(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}
    create = schema["paths"]["/api/v1/trading/orders/"]["post"]
    assert set(create["responses"]) == {"200", "201", "400", "401", "422", "429"}


def test_the_docs_page_loads_its_assets_from_this_server(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert finders.find(asset), asset  # shipped by drf-spectacular-sidecar


@pytest.fixture
def wsgi_app():
    """The real WSGI application, on the test's database connection (as Django's test client
    does, the request signals must not close it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_generated_request_gets_a_server_error(wsgi_app, user, account, btc, settings_):
    # Something to find: an open order, a filled one, a position and a fill, and a parent
    # order with its arrival book, so execution quality has something to measure.
    order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19990", submit=False,
    )  # fmt: skip
    place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")
    paper_book_update(symbol="BTC-USDT", bids=[(D("19999.9"), D(2))], asks=[(D("20000.1"), D(2))])
    parent_order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", quantity="0.1",
        algorithm="limit", params={"timeout": 60, "price": "19990"}, strategy_id=3,
    )  # fmt: skip
    headers = {"Authorization": f"Token {api_token_create(user_id=user.pk, name='tests').key}"}
    # /api/v1/ml/ and /api/v1/strategies/ have schema tests of their own, with their data.
    operations = api_operations(
        wsgi_app, keep=lambda path: not path.startswith(("/api/v1/ml/", "/api/v1/strategies/"))
    )
    assert len(operations) >= 14  # every other operation of the API, token included
    failures = server_errors(operations, headers=headers)
    assert not failures, "\n\n".join(failures)


WILD = st.decimals(allow_nan=False, allow_infinity=False).map(str)
# BTC-USDT (tests.factories): lot 0.0001, tick 0.1, mark 20000. Mostly valid, sometimes not.
VALID_QUANTITIES = st.integers(3, 3000).map(lambda n: str(D(n) * D("0.0001")))
VALID_PRICES = st.integers(190_000, 210_000).map(lambda n: str(D(n) / 10))
QUANTITIES = st.one_of(VALID_QUANTITIES, VALID_QUANTITIES, WILD)
PRICES = st.one_of(VALID_PRICES, VALID_PRICES, WILD)


@st.composite
def order_bodies(draw):
    order_type = draw(st.sampled_from(["market", "limit", "stop_market", "stop_limit"]))
    body = {
        "symbol": draw(st.sampled_from(["BTC-USDT", "btc-usdt"])),
        "side": draw(st.sampled_from(["buy", "sell"])),
        "order_type": order_type,
        "quantity": draw(QUANTITIES),
    }
    # The prices the order type takes, and now and then one it does not.
    if order_type in ("limit", "stop_limit") or draw(st.integers(0, 9)) == 9:
        body["price"] = draw(PRICES)
    if order_type.startswith("stop") or draw(st.integers(0, 9)) == 9:
        body["stop_price"] = draw(PRICES)
    if draw(st.booleans()):
        body["time_in_force"] = draw(st.sampled_from(["gtc", "ioc", "fok", "post_only"]))
    if draw(st.booleans()):
        body["reduce_only"] = draw(st.booleans())
    return body


@given(
    body=order_bodies(),
    amendment=st.fixed_dictionaries({}, optional={"quantity": QUANTITIES, "price": PRICES}),
)
@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_orders_near_the_valid_ones_never_get_a_server_error(
    api, account, btc, settings_, body, amendment
):
    # Generated requests rarely name a real instrument: these always do, so they reach the
    # trading rules, risk and the database with amounts of every size.
    placed = api.post("/api/v1/trading/orders/", body, format="json")
    assert placed.status_code in {201, 400, 422}, placed.data
    if placed.status_code == 201:
        amended = api.patch(
            f"/api/v1/trading/orders/{placed.data['id']}/", amendment, format="json"
        )
        assert amended.status_code in {200, 400, 422}, amended.data
        assert api.delete(f"/api/v1/trading/orders/{placed.data['id']}/").status_code in {200, 400}


@pytest.fixture
def settings_(settings):
    """No throttling: generated requests come faster than any real client's."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None},
    }
    return settings


def test_the_schema_command_prints_yaml(db):
    out = StringIO()
    call_command("spectacular", stdout=out)
    assert out.getvalue().startswith("openapi: 3")
