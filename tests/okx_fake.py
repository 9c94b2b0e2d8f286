"""OKX v5 REST replies in their documented shapes, and a fake HTTP session that answers them.

The fake replaces ``exchange.session`` (the ``requests`` session ccxt's sync ``fetch`` sends
through), so ccxt's own signing, JSON parsing, error mapping (``handle_errors``) and debug
logging all run; nothing reaches the network. It keeps a tiny exchange of its own: orders by
``clOrdId``, their fills, balances (a spot fill moves them, as OKX's would) and positions, and
records every request it got.

Tests that build exchanges inside the platform (``venue_for_account``) install it for every
ccxt exchange at once with ``install_fake_okx`` below: the network edge, nothing of ours replaced.
"""

from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

TS = "1700000000000"  # 2023-11-14T22:13:20Z


def ok(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def failed(s_code: str, s_msg: str, **ids: str) -> dict[str, Any]:
    """A per-item failure, as /trade/order, /trade/batch-orders, cancel and amend answer."""
    item = {"clOrdId": ids.get("clOrdId", ""), "ordId": "", "sCode": s_code, "sMsg": s_msg}
    return {"code": "1", "msg": "Operation failed.", "data": [item]}


def error(code: str, msg: str) -> dict[str, Any]:
    """A request-level failure, e.g. 51603 for an order that does not exist."""
    return {"code": code, "msg": msg, "data": []}


SPOT_BTC_USDT = {
    "alias": "",
    "baseCcy": "BTC",
    "category": "1",
    "ctMult": "",
    "ctType": "",
    "ctVal": "",
    "ctValCcy": "",
    "expTime": "",
    "instFamily": "",
    "instId": "BTC-USDT",
    "instType": "SPOT",
    "lever": "10",
    "listTime": "1548133413000",
    "lotSz": "0.00000001",
    "maxLmtSz": "9999999999",
    "maxMktSz": "1000000",
    "minSz": "0.00001",
    "optType": "",
    "quoteCcy": "USDT",
    "settleCcy": "",
    "state": "live",
    "stk": "",
    "tickSz": "0.1",
    "uly": "",
}

SWAP_BTC_USDT = {
    **SPOT_BTC_USDT,
    "baseCcy": "",
    "quoteCcy": "",
    "ctType": "linear",
    "ctVal": "0.01",
    "ctValCcy": "BTC",
    "instFamily": "BTC-USDT",
    "instId": "BTC-USDT-SWAP",
    "instType": "SWAP",
    "lever": "100",
    "lotSz": "0.01",
    "minSz": "0.01",
    "settleCcy": "USDT",
    "uly": "BTC-USDT",
}

CURRENCIES = [
    {
        "canDep": True,
        "canInternal": True,
        "canWd": True,
        "ccy": ccy,
        "chain": chain,
        "mainNet": True,
        "maxFee": "0.0005",
        "maxWd": "500",
        "minFee": "0.0002",
        "minWd": "0.0005",
        "name": name,
        "wdTickSz": "8",
    }
    for ccy, chain, name in (("BTC", "BTC-Bitcoin", "Bitcoin"), ("USDT", "USDT-TRC20", "Tether"))
]


def order_details(order: FakeOrder) -> dict[str, Any]:
    """GET /api/v5/trade/order and /trade/orders-pending: one order."""
    filled = sum((Decimal(f["fillSz"]) for f in order.fills), Decimal(0))
    notional = sum((Decimal(f["fillSz"]) * Decimal(f["fillPx"]) for f in order.fills), Decimal(0))
    fee = sum((Decimal(f["fee"]) for f in order.fills), Decimal(0))
    return {
        "accFillSz": order.acc_fill_sz or str(filled),
        "avgPx": order.avg_px or (str(notional / filled) if filled else ""),
        "cTime": TS,
        "category": "normal",
        "ccy": "",
        "clOrdId": order.cl_ord_id,
        "fee": str(fee),
        "feeCcy": order.fills[-1]["feeCcy"] if order.fills else "USDT",
        "fillPx": order.fills[-1]["fillPx"] if order.fills else "",
        "fillSz": order.fills[-1]["fillSz"] if order.fills else "0",
        "fillTime": order.fills[-1]["ts"] if order.fills else "",
        "instId": order.inst_id,
        "instType": "SPOT",
        "lever": "",
        "ordId": order.ord_id,
        "ordType": order.ord_type,
        "pnl": "0",
        "posSide": "net",
        "px": order.px,
        "rebate": "0",
        "rebateCcy": "USDT",
        "reduceOnly": "false",
        "side": order.side,
        "slOrdPx": "",
        "slTriggerPx": "",
        "state": order.state,
        "sz": order.sz,
        "tag": "",
        "tdMode": "cash",
        "tgtCcy": "",
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tradeId": order.fills[-1]["tradeId"] if order.fills else "",
        "uTime": TS,
    }


def fill(
    order: FakeOrder, *, trade_id: str, bill_id: str, size: str, price: str, fee: str, fee_ccy: str
) -> dict[str, Any]:
    """GET /api/v5/trade/fills-history: one fill. OKX's fee is negative when charged."""
    return {
        "side": order.side,
        "fillSz": size,
        "fillPx": price,
        "fee": fee,
        "feeCcy": fee_ccy,
        "ordId": order.ord_id,
        "clOrdId": order.cl_ord_id,
        "instType": "SPOT",
        "instId": order.inst_id,
        "posSide": "net",
        "billId": bill_id,
        "tag": "",
        "execType": "M" if order.ord_type == "post_only" else "T",
        "tradeId": trade_id,
        "ts": TS,
    }


@dataclass
class FakeOrder:
    cl_ord_id: str
    ord_id: str
    inst_id: str
    side: str
    ord_type: str
    sz: str
    px: str
    state: str = "live"
    acc_fill_sz: str = ""
    avg_px: str = ""
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


class FakeOkx:
    """Stands in for ``requests.Session`` on a ccxt exchange: ``exchange.session = FakeOkx()``."""

    def __init__(self) -> None:
        self.cookies = RequestsCookieJar()
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        self.requests: list[Recorded] = []
        self.orders: dict[str, FakeOrder] = {}
        self.balance_details: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        self.refuse_next_order: tuple[str, str] | None = None  # (sCode, sMsg)
        # The order reaches the exchange, the reply does not: a read timeout after recording.
        self.lose_next_reply = False
        # The order never reaches the exchange: a connect timeout before anything is recorded.
        self.lose_next_request = False
        self._trade_ids = itertools.count(1)
        self.instruments = {"SPOT": [SPOT_BTC_USDT], "SWAP": [SWAP_BTC_USDT]}

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def placed(self) -> list[Recorded]:
        """Every order-placing request, whichever endpoint ccxt chose."""
        return self.posts("/api/v5/trade/order") + self.posts("/api/v5/trade/batch-orders")

    def set_balance(self, ccy: str, amount: str | Decimal) -> None:
        """The trading account's total (``eq``) in ``ccy``; zero removes it, as OKX lists
        only currencies held."""
        details = [d for d in self.balance_details if d["ccy"] != ccy]
        if Decimal(amount):
            text = str(amount)
            details.append(
                {"ccy": ccy, "eq": text, "cashBal": text, "availBal": text, "frozenBal": "0",
                 "uTime": TS}
            )  # fmt: skip
        self.balance_details = details

    def balance(self, ccy: str) -> Decimal:
        return next((Decimal(d["eq"]) for d in self.balance_details if d["ccy"] == ccy), Decimal(0))

    def fill(
        self,
        cl_ord_id: str,
        *,
        size: str,
        price: str,
        fee: str = "0",
        fee_ccy: str = "USDT",
        trade_id: str | None = None,
    ) -> dict[str, Any]:
        """The exchange fills (part of) an order: OKX's ``fee`` is negative when charged. A spot
        fill moves the balances: the base by the size, the quote by the notional, the fee's
        currency by the fee."""
        order = self.orders[cl_ord_id]
        number = next(self._trade_ids)
        execution = fill(
            order, trade_id=trade_id or f"9{number:08d}", bill_id=f"8{number:08d}", size=size,
            price=price, fee=fee, fee_ccy=fee_ccy,
        )  # fmt: skip
        order.fills.append(execution)
        done = sum((Decimal(f["fillSz"]) for f in order.fills), Decimal(0))
        order.state = "filled" if done >= Decimal(order.sz) else "partially_filled"
        if not order.inst_id.endswith("-SWAP"):
            base, quote = order.inst_id.split("-")
            sign = 1 if order.side == "buy" else -1
            self.set_balance(base, self.balance(base) + sign * Decimal(size))
            self.set_balance(quote, self.balance(quote) - sign * Decimal(size) * Decimal(price))
            self.set_balance(fee_ccy, self.balance(fee_ccy) + Decimal(fee))
        return execution

    # -- requests.Session ----------------------------------------------------------------------

    def close(self) -> None:
        """requests.Session.close: nothing to release."""

    def request(self, method: str, url: str, data: bytes | None = None, headers=None, **_: Any):
        if self.lose_next_request and method == "POST":
            self.lose_next_request = False
            raise requests.exceptions.ConnectTimeout("connect timed out")
        parts = urlsplit(url)
        body = json.loads(data) if data else None
        recorded = Recorded(method, parts.path, dict(parse_qsl(parts.query)), body, dict(headers))
        self.requests.append(recorded)
        reply = self._answer(recorded)
        if self.lose_next_reply and method == "POST":
            self.lose_next_reply = False
            raise requests.exceptions.ReadTimeout("read timed out")
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.url = url
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = json.dumps(reply).encode()
        return response

    # -- the exchange --------------------------------------------------------------------------

    def _answer(self, r: Recorded) -> dict[str, Any]:
        route = (r.method, r.path.removeprefix("/api/v5"))
        if route == ("GET", "/public/instruments"):
            return ok(self.instruments.get(r.query["instType"], []))
        if route == ("GET", "/asset/currencies"):
            return ok(CURRENCIES)
        if route in (("POST", "/trade/order"), ("POST", "/trade/batch-orders")):
            item = r.body[0] if isinstance(r.body, list) else r.body
            return self._place(item)
        if route == ("GET", "/trade/order"):
            order = self._find(r.query)
            if order is None:
                return error("51603", "Order does not exist")
            return ok([order_details(order)])
        if route == ("GET", "/trade/orders-pending"):
            live = [o for o in self.orders.values() if o.state in ("live", "partially_filled")]
            return ok([order_details(o) for o in live])
        if route == ("GET", "/trade/fills-history"):
            order = next(o for o in self.orders.values() if o.ord_id == r.query["ordId"])
            return ok(list(reversed(order.fills)))  # newest first, as OKX pages them
        if route == ("POST", "/trade/cancel-order"):
            order = self._find(r.body)
            if order is None or order.state not in ("live", "partially_filled"):
                return failed("51400", "Order cancellation failed as the order does not exist.")
            order.state = "canceled"
            return ok(
                [{"clOrdId": order.cl_ord_id, "ordId": order.ord_id, "sCode": "0", "sMsg": ""}]
            )
        if route == ("POST", "/trade/amend-order"):
            order = self._find(r.body)
            if order is None:
                return failed("51503", "Order modification failed as the order does not exist.")
            order.sz = r.body.get("newSz", order.sz)
            order.px = r.body.get("newPx", order.px)
            return ok(
                [
                    {
                        "clOrdId": order.cl_ord_id,
                        "ordId": order.ord_id,
                        "reqId": "",
                        "sCode": "0",
                        "sMsg": "",
                    }
                ]
            )
        if route == ("GET", "/account/balance"):
            return ok([{"adjEq": "", "details": self.balance_details, "totalEq": "0", "uTime": TS}])
        if route == ("GET", "/account/positions"):
            return ok(self.positions)
        raise AssertionError(f"the fake OKX has no route for {r.method} {r.path}")

    def _place(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_next_order is not None:
            s_code, s_msg = self.refuse_next_order
            self.refuse_next_order = None
            return failed(s_code, s_msg, clOrdId=item["clOrdId"])
        order = FakeOrder(
            cl_ord_id=item["clOrdId"],
            ord_id=str(600000000000000000 + len(self.orders)),
            inst_id=item["instId"],
            side=item["side"],
            ord_type=item["ordType"],
            sz=item["sz"],
            px=item.get("px", ""),
        )
        self.orders[order.cl_ord_id] = order
        return ok(
            [
                {
                    "clOrdId": order.cl_ord_id,
                    "ordId": order.ord_id,
                    "sCode": "0",
                    "sMsg": "Order placed",
                    "tag": "",
                    "ts": TS,
                }
            ]
        )

    def _find(self, query: dict[str, Any]) -> FakeOrder | None:
        if "clOrdId" in query:
            order = self.orders.get(query["clOrdId"])
        else:
            order = next((o for o in self.orders.values() if o.ord_id == query["ordId"]), None)
        return order if order is not None and order.inst_id == query["instId"] else None


def install_fake_okx(monkeypatch: pytest.MonkeyPatch) -> FakeOkx:
    """One fake OKX behind every ccxt exchange built while the test runs: ccxt makes its HTTP
    session with ``requests.Session()`` when an exchange is created, and gets this instead."""
    fake = FakeOkx()
    # By module object: the package ``ccxt`` shadows ``ccxt.base`` with a list of names.
    monkeypatch.setattr(importlib.import_module("ccxt.base.exchange"), "Session", lambda: fake)
    return fake
