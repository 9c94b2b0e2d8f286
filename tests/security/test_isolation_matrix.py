"""Isolation matrix: bob, signed in by session and by API token (and an anonymous visitor),
calls every URL the site routes, with every method, naming alice's objects; none of alice's
data may come back and nothing of hers may change.

The routes are ENUMERATED from the URL resolver (and checked against the OpenAPI schema's
operations), so a new endpoint is covered without editing this file, or makes it fail:

* a route without parameters (a list, a page, a create) may answer bob 2xx, but its body must
  hold none of alice's markers (tests/security/conftest.py) and, for a list, none of her ids;
  its query string and its body name alice's account, strategy, subscription...: refused or
  ignored, never her data;
* a route with parameters must have a case in DETAIL_CASES saying which of alice's objects
  fills them and what bob gets: 404 (the same answer as an id that never existed) for each
  method it serves, 405 for the others. A route with parameters and no case fails the test;
* the admin is staff only: bob is not staff, so no admin URL but its login and logout pages
  answers him 2xx.

Public by design, and read by bob on purpose: model versions (the shared model registry: every
signed-in user reads them, only staff change them), the copy trading leaderboard and the
public strategies on it, the feature and strategy-kind catalogues, and the login page.

Controls: alice herself gets 2xx for every detail bob is refused, and her markers appear in
her own pages and lists, so the ids and markers tested are real and visible to their owner.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from execution.services.notify import user_group
from tests.security.conftest import MARK, MARKERS, World, session_client, token_client
from tradingsite.routing import websocket_urlpatterns

# A fresh cache and paper exchange, no rate limit: a refusal seen is the one under test.
pytestmark = pytest.mark.usefixtures("clean_state")

METHODS = ("get", "post", "put", "patch", "delete")
AUTH_KINDS = ("session", "token", "anonymous")
APPS = ("execution", "strategies", "copytrading", "mlmodels")

# Answer kinds of a route with parameters, for bob naming alice's object.
NOT_FOUND = "404"  # each method it serves answers 404; the others 405
PUBLIC = "public"  # shared by design: reads answer 2xx, changes are staff only (403)
OWN_ONLY = "own-only"  # answers bob 2xx with his own rows only (none here)

# Route -> (how its parameters are filled from alice's ids, what bob gets).
DETAIL_CASES: dict[str, tuple[dict[str, str], str]] = {
    "overview/accounts/<int:account_id>/kill-switch/": ({"account_id": "account"}, NOT_FOUND),
    "accounts/tokens/<int:token_id>/revoke/": ({"token_id": "api_token"}, NOT_FOUND),
    "api/v1/auth/tokens/<str:pk>/": ({"pk": "api_token"}, NOT_FOUND),
    "strategies/<int:strategy_id>/": ({"strategy_id": "strategy"}, NOT_FOUND),
    "strategies/<int:strategy_id>/pause/": ({"strategy_id": "strategy"}, NOT_FOUND),
    "strategies/<int:strategy_id>/resume/": ({"strategy_id": "strategy"}, NOT_FOUND),
    "strategies/<int:strategy_id>/backtests/": ({"strategy_id": "strategy"}, NOT_FOUND),
    "strategies/backtests/<int:backtest_id>/": ({"backtest_id": "backtest"}, NOT_FOUND),
    "strategies/backtests/<int:backtest_id>/status/": ({"backtest_id": "backtest"}, NOT_FOUND),
    "models/<int:version_id>/": ({"version_id": "model_version"}, PUBLIC),
    "models/training/<str:run_id>/status/": ({"run_id": "training_run"}, NOT_FOUND),
    "copy/subscriptions/<int:subscription_id>/settings/": (
        {"subscription_id": "subscription"},
        NOT_FOUND,
    ),
    "copy/subscriptions/<int:subscription_id>/allocation/": (
        {"subscription_id": "subscription"},
        NOT_FOUND,
    ),
    "copy/subscriptions/<int:subscription_id>/pause/": (
        {"subscription_id": "subscription"},
        NOT_FOUND,
    ),
    "copy/subscriptions/<int:subscription_id>/resume/": (
        {"subscription_id": "subscription"},
        NOT_FOUND,
    ),
    "copy/subscriptions/<int:subscription_id>/stop/": (
        {"subscription_id": "subscription"},
        NOT_FOUND,
    ),
    "api/v1/trading/orders/<str:pk>/": ({"pk": "order"}, NOT_FOUND),
    "api/v1/trading/parent-orders/<str:pk>/": ({"pk": "parent_order"}, NOT_FOUND),
    "api/v1/trading/positions/<str:symbol>/": ({"symbol": "symbol"}, OWN_ONLY),
    "api/v1/trading/accounts/<str:pk>/kill-switch/": ({"pk": "account"}, NOT_FOUND),
    "api/v1/ml/models/<str:pk>/": ({"pk": "model_version"}, PUBLIC),
    "api/v1/ml/models/<str:pk>/activate/": ({"pk": "model_version"}, PUBLIC),
    "api/v1/ml/models/<str:pk>/retire/": ({"pk": "model_version"}, PUBLIC),
    "api/v1/ml/models/<str:pk>/drift/": ({"pk": "model_version"}, PUBLIC),
    "api/v1/ml/training-runs/<str:pk>/": ({"pk": "training_run"}, NOT_FOUND),
    "api/v1/strategies/backtests/<str:pk>/": ({"pk": "backtest"}, NOT_FOUND),
    "api/v1/strategies/backtests/<str:pk>/result/": ({"pk": "backtest"}, NOT_FOUND),
    "api/v1/strategies/backtests/<str:pk>/report/": ({"pk": "backtest"}, NOT_FOUND),
    "api/v1/strategies/comparisons/<str:pk>/": ({"pk": "comparison"}, NOT_FOUND),
    "api/v1/strategies/comparisons/<str:pk>/report/": ({"pk": "comparison"}, NOT_FOUND),
    "api/v1/strategies/<str:pk>/": ({"pk": "strategy"}, NOT_FOUND),
    "api/v1/strategies/<str:pk>/pause/": ({"pk": "strategy"}, NOT_FOUND),
    "api/v1/strategies/<str:pk>/resume/": ({"pk": "strategy"}, NOT_FOUND),
    "api/v1/strategies/<str:pk>/stop/": ({"pk": "strategy"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/": ({"pk": "subscription"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/pause/": ({"pk": "subscription"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/resume/": ({"pk": "subscription"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/stop/": ({"pk": "subscription"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/drift/": ({"pk": "subscription"}, NOT_FOUND),
    "api/v1/copytrading/subscriptions/<str:pk>/pnl/": ({"pk": "subscription"}, NOT_FOUND),
}

# Lists whose rows carry an id of one of alice's kinds: bob's answer holds none of hers.
LIST_KINDS = {
    "api/v1/trading/orders/": "order",
    "api/v1/trading/orders/active/": "order",
    "api/v1/trading/parent-orders/": "parent_order",
    "api/v1/trading/positions/": "position",
    "api/v1/trading/trades/": "fill",
    "api/v1/trading/accounts/": "account",
    "api/v1/strategies/": "strategy",
    "api/v1/strategies/signals/": "signal",
    "api/v1/strategies/backtests/": "backtest",
    "api/v1/strategies/comparisons/": "comparison",
    "api/v1/copytrading/subscriptions/": "subscription",
    "api/v1/copytrading/copy-trades/": "copy_trade",
    "api/v1/trading/positions/<str:symbol>/": "position",
    "api/v1/auth/tokens/": "api_token",
}

# Answering an anonymous visitor 2xx is their purpose.
ANONYMOUS_PUBLIC = {
    "healthz",
    "health/",  # for load balancers: up or down and which service, no data
    "vendor/plotly.min.js",
    "accounts/login/",
    "accounts/logout/",
    "api/schema/",
    "api/docs/",
    "admin/login/",
    "admin/logout/",
}
# Bob is not staff: of the admin, only these answer him 2xx (a login form, a sign-out).
ADMIN_PUBLIC = {"admin/login/", "admin/logout/"}
# Signing out ends the session the next requests use: it is signed in again after these.
SIGN_OUT = {"accounts/logout/", "admin/logout/"}


@dataclass(frozen=True)
class Route:
    pattern: str  # as the resolver spells it, prefixes joined
    view: Any

    @property
    def has_parameters(self) -> bool:
        return "<" in self.pattern or "(?P<" in self.pattern


def routes() -> list[Route]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                assert isinstance(pattern, URLPattern)
                yield Route(prefix + str(pattern.pattern), pattern.callback)

    return list(walk(get_resolver().url_patterns, ""))


def concrete(pattern: str, values: dict[str, str]) -> str:
    """The path of a route with its parameters filled (regex routes with an example)."""

    def converter(match: re.Match[str]) -> str:
        return values.get(match.group(2), "1")

    def group(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        if name in values:
            return values[name]
        return body.split("|")[0] if re.fullmatch(r"[\w|]+", body) else "x"

    path = re.sub(r"<(?:(\w+):)?(\w+)>", converter, pattern)
    path = re.sub(r"\(\?P<(\w+)>([^)]*)\)", group, path)
    return "/" + path.replace("^", "").replace("$", "").replace(r"\Z", "")


def leaked_markers(body: str) -> set[str]:
    return {marker for marker in MARKERS.values() if marker in body} | (
        {MARK} if MARK in body else set()
    )


def rows(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return list(body["results"])
    return list(body) if isinstance(body, list) else []


def database_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the project's apps, to show that bob's calls changed nothing."""
    state = {}
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            if not model._meta.managed:
                continue
            state[model._meta.label] = sorted(
                (tuple(map(str, row)) for row in model._default_manager.values_list()), key=str
            )
    return state


def admin_object_id(pattern: str, world: World) -> str:
    """Alice's object for an admin change/delete/history URL of its model, else any row."""
    match = re.match(r"admin/(\w+)/(\w+)/", pattern)
    if match is None:
        return "1"
    try:
        model = apps.get_model(match.group(1), match.group(2))
    except LookupError:
        return "1"
    by_model = {
        "account": "account", "order": "order", "parentorder": "parent_order", "fill": "fill",
        "strategy": "strategy", "signal": "signal", "backtest": "backtest",
        "copysubscription": "subscription", "copytrade": "copy_trade",
        "trainingrun": "training_run", "user": "alice", "apitoken": "api_token",
    }  # fmt: skip
    kind = by_model.get(model._meta.model_name)
    if kind is not None and kind in world.ids:
        return str(world.ids[kind])
    if not model._meta.managed:
        return "1"
    first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return "1" if first is None else str(first)


class Caller:
    """One of bob's ways in (or nobody's), counting what it asked and got."""

    def __init__(self, kind: str, world: World) -> None:
        self.kind, self.world = kind, world
        self.client = self._client()
        self.requests = 0
        self.statuses: Counter[int] = Counter()

    def _client(self) -> Client:
        if self.kind == "session":
            return session_client(self.world.bob)
        if self.kind == "token":
            return token_client(self.world.bob)
        return Client()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}) if method != "get" else body
        kwargs: dict[str, Any] = {"content_type": "application/json"} if method != "get" else {}
        response = getattr(self.client, method)(path, data, **kwargs)
        self.requests += 1
        self.statuses[response.status_code] += 1
        return response


def owner_body(world: World) -> dict[str, Any]:
    """A body (and a query) naming alice's objects in every field that takes one."""
    ids = world.ids
    return {
        "account": ids["account"], "account_id": ids["account"], "strategy": ids["strategy"],
        "strategy_id": ids["strategy"], "subscription": ids["subscription"],
        "parent": ids["parent_order"], "order": ids["order"], "backtest": ids["backtest"],
        "symbol": "BTC-USDT", "side": "buy", "order_type": "market", "quantity": "0.01",
        "algorithm": "market", "allocation_percent": "10", "reason": "bob was here",
        "on": True, "close": True, "kind": "sma_crossover", "interval": "1h",
        "instruments": ["BTC-USDT"], "name": "bob-copy", "follow-account": ids["account"],
        "follow-strategy": ids["strategy"],
    }  # fmt: skip


def body_text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    content: bytes = response.content
    return content.decode("utf-8", "replace")


@pytest.fixture
def world_with_model(world: World) -> World:
    from tests.mlmodels.registry.factories import register

    world.ids["model_version"] = register().pk
    world.ids["symbol"] = "BTC-USDT"
    world.ids["alice"] = world.alice.pk
    return world


@pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")
def test_bob_reaches_none_of_alices_data_through_any_route(world_with_model, capsys):
    world = world_with_model
    all_routes = routes()
    missing = [
        r.pattern
        for r in all_routes
        if r.has_parameters and not r.pattern.startswith(("admin/", "^api/"))
        and r.pattern not in DETAIL_CASES
    ]  # fmt: skip
    assert not missing, f"routes with parameters and no isolation case: {missing}"
    stale = set(DETAIL_CASES) - {r.pattern for r in all_routes}
    assert not stale, f"isolation cases of routes that no longer exist: {stale}"

    alice = session_client(world.alice)
    before = database_state()
    failures: list[str] = []
    body = owner_body(world)
    query = {key: body[key] for key in ("account", "strategy", "subscription", "strategy_id")}
    checked: set[tuple[str, str]] = set()
    callers = [Caller(kind, world) for kind in AUTH_KINDS]
    control_text: list[str] = []

    for route in all_routes:
        if route.pattern in DETAIL_CASES:
            fill, answer = DETAIL_CASES[route.pattern]
            path = concrete(route.pattern, {p: str(world.ids[k]) for p, k in fill.items()})
        elif route.pattern.startswith("admin/"):
            answer = "admin"
            path = concrete(route.pattern, {"object_id": admin_object_id(route.pattern, world)})
        else:
            answer = "collection"
            path = concrete(route.pattern, {})
            if route.pattern not in SIGN_OUT:  # alice's own view, for the markers' control
                response = alice.get(path)
                if 200 <= response.status_code < 300:
                    control_text.append(body_text(response))
                if route.pattern in LIST_KINDS:  # her own list shows her rows
                    kind = LIST_KINDS[route.pattern]
                    found = {str(row.get("id")) for row in rows(response.json())}
                    assert found & world.owned[kind], f"the control: {path} lists no {kind}"
        if answer in (NOT_FOUND, PUBLIC, OWN_ONLY):
            # The control: the id is real and its owner reaches it (a report not ready yet
            # answers her 409, a POST-only action 405: anything but not found).
            own = alice.get(path)
            assert own.status_code in (200, 405, 409), (path, own.status_code)
        for caller in callers:
            for method in METHODS:
                checked.add((route.pattern, method))
                sent = body if method != "get" else None
                response = caller.call(method, path, sent)
                code = response.status_code
                text = body_text(response)
                where = f"{caller.kind} {method.upper()} {path} -> {code}"
                if leaked_markers(text):
                    failures.append(f"{where}: leaks {sorted(leaked_markers(text))}")
                ok = 200 <= code < 300
                # Pages take the session only: to them a token caller is anonymous.
                signed_in = caller.kind == "session" or (
                    caller.kind == "token" and route.pattern.startswith("api/")
                )
                if answer == NOT_FOUND:
                    expected = {404, 405} if signed_in else {302, 401, 403, 405}
                    if code not in expected:
                        failures.append(f"{where}: expected one of {sorted(expected)}")
                elif answer == PUBLIC and ok and method not in ("get",):
                    failures.append(f"{where}: a shared object changed by a non-staff user")
                elif answer == "admin" and ok and route.pattern not in ADMIN_PUBLIC:
                    failures.append(f"{where}: the admin answered a non-staff user")
                if route.pattern in LIST_KINDS and ok and method == "get":
                    kind = LIST_KINDS[route.pattern]
                    found = {str(row.get("id")) for row in rows(response.json())}
                    if found & world.owned[kind]:
                        failures.append(f"{where}: lists alice's {kind} {found}")
                if not signed_in and ok:
                    public = route.pattern in ANONYMOUS_PUBLIC
                    if not public:
                        failures.append(f"{where}: answered an anonymous visitor")
                if route.pattern in SIGN_OUT:
                    caller.client = caller._client()
            if answer == "collection":  # the same list, filtered by alice's ids
                response = caller.call("get", path, query)
                if leaked_markers(body_text(response)):
                    failures.append(f"{caller.kind} GET {path}?{query}: leaks alice's data")

    assert not failures, "\n".join(failures)
    assert database_state() == before, "bob's calls changed the database"
    seen = " ".join(control_text)
    unseen = {name for name, marker in MARKERS.items() if marker not in seen}
    assert not unseen, f"the control failed: alice's own pages never show {unseen}"

    schema = session_client(world.bob).get("/api/schema/?format=json").json()
    operations = 0
    for schema_path, item in schema["paths"].items():
        for method in item:
            if method not in METHODS:
                continue
            operations += 1
            shape = re.sub(r"\{\w+\}", "{}", schema_path.lstrip("/"))
            matched = [
                r for r, m in checked
                if m == method and re.sub(r"<(?:\w+:)?\w+>", "{}", r) == shape
            ]  # fmt: skip
            assert matched, f"schema operation {method.upper()} {schema_path} was not checked"

    requests = sum(c.requests for c in callers)
    statuses = sum((c.statuses for c in callers), Counter())
    with capsys.disabled():
        print(
            f"\nisolation matrix: {len(all_routes)} routes "
            f"({sum(r.has_parameters for r in all_routes)} with alice's ids, "
            f"{operations} OpenAPI operations) x {len(METHODS)} methods x {len(AUTH_KINDS)} "
            f"callers ({', '.join(AUTH_KINDS)}) = {requests} requests; answers: "
            + ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        )


# --- websockets ---------------------------------------------------------------------------------

WS_CASES = {"ws/account/": "the signed-in user's own group"}


def _ws_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    return [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"{cookie.key}={cookie.value}".encode()),
    ]


@pytest.mark.django_db(transaction=True)
def test_bob_receives_none_of_alices_pushes_on_any_websocket_route(capsys):
    from tests.factories import make_user
    from tradingsite.asgi import application

    listed = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    assert listed == set(WS_CASES), f"websocket routes without an isolation case: {listed}"
    alice, bob = make_user("alice"), make_user("bob")
    alice_headers, bob_headers = _ws_headers(alice), _ws_headers(bob)

    async def scenario() -> tuple[int, int]:
        layer = get_channel_layer()
        checked = 0
        for route in sorted(WS_CASES):
            theirs = WebsocketCommunicator(application, "/" + route, headers=alice_headers)
            mine = WebsocketCommunicator(application, "/" + route, headers=bob_headers)
            assert (await theirs.connect())[0] and (await mine.connect())[0]
            # Bob asks for alice's group every way a client could: the consumer takes none.
            for ask in ({"subscribe": user_group(alice.pk)}, {"group": user_group(alice.pk)},
                        {"user_id": alice.pk}, {"type": "account.update"}):  # fmt: skip
                await mine.send_json_to(ask)
            update = {"kind": "order", "payload": {"client_order_id": MARKERS["open_order"]}}
            await layer.group_send(user_group(alice.pk), {"type": "account.update", **update})
            got = await theirs.receive_json_from(timeout=2)
            assert got["payload"]["client_order_id"] == MARKERS["open_order"]
            assert await mine.receive_nothing(timeout=0.5)
            await theirs.disconnect()
            await mine.disconnect()
            checked += 1
        return checked, len(WS_CASES)

    checked, routes_count = async_to_sync(scenario)()
    assert checked == routes_count
    with capsys.disabled():
        print(f"\nwebsocket isolation: {checked} route(s), bob received 0 of alice's pushes")
