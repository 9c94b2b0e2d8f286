"""A fake OKX for market data: ``exchange.session = FakeOkxHistory(...)`` on a real ``ccxt.okx``.

It answers the public endpoints the ccxt source uses in OKX v5's reply formats (instruments,
/market/history-candles, /market/history-trades, /market/books), pages as OKX pages, can
refuse a request for its rate once, and records every request. Nothing reaches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import requests
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

SPOT_BTC_USDT = {
    "alias": "", "baseCcy": "BTC", "category": "1", "ctMult": "", "ctType": "", "ctVal": "",
    "ctValCcy": "", "expTime": "", "instFamily": "", "instId": "BTC-USDT", "instType": "SPOT",
    "lever": "10", "listTime": "1548133413000", "lotSz": "0.00000001", "maxLmtSz": "9999999999",
    "maxMktSz": "1000000", "minSz": "0.00001", "optType": "", "quoteCcy": "USDT",
    "settleCcy": "", "state": "live", "stk": "", "tickSz": "0.1", "uly": "",
}  # fmt: skip


@dataclass
class Candle:
    ts: int  # open time, epoch ms
    o: str
    h: str
    lo: str
    c: str
    vol: str
    confirm: str = "1"  # "0" while the bar is still forming

    def reply(self) -> list[str]:
        """[ts, o, h, l, c, vol (base), volCcy, volCcyQuote, confirm], as OKX sends them."""
        quote = str(round(float(self.vol) * float(self.c), 2))
        return [str(self.ts), self.o, self.h, self.lo, self.c, self.vol, self.vol, quote,
                self.confirm]  # fmt: skip


@dataclass
class Trade:
    trade_id: int
    ts: int
    px: str
    sz: str
    side: str

    def reply(self) -> dict[str, str]:
        return {"instId": "BTC-USDT", "side": self.side, "sz": self.sz, "px": self.px,
                "tradeId": str(self.trade_id), "ts": str(self.ts)}  # fmt: skip


@dataclass
class Recorded:
    path: str
    query: dict[str, str]


@dataclass
class FakeOkxHistory:
    candles: list[Candle] = field(default_factory=list)  # oldest first
    trades: list[Trade] = field(default_factory=list)  # oldest first
    books: list[dict[str, Any]] = field(default_factory=list)  # replies, in turn
    page_limit: int = 100  # OKX's most per page
    refuse_next_for_rate: bool = False
    requests: list[Recorded] = field(default_factory=list)
    cookies: RequestsCookieJar = field(default_factory=RequestsCookieJar)
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)

    def close(self) -> None:
        """requests.Session.close: nothing to release."""

    def paths(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def request(self, method: str, url: str, data: Any = None, headers: Any = None, **_: Any):
        parts = urlsplit(url)
        recorded = Recorded(parts.path.removeprefix("/api/v5"), dict(parse_qsl(parts.query)))
        self.requests.append(recorded)
        status, reply = 200, self._answer(method, recorded)
        if self.refuse_next_for_rate and recorded.path.startswith("/market/"):
            self.refuse_next_for_rate = False
            status, reply = 429, {"code": "50011", "msg": "Too Many Requests", "data": []}
        response = requests.Response()
        response.status_code = status
        response.reason = "OK" if status == 200 else "Too Many Requests"
        response.url = url
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = json.dumps(reply).encode()
        return response

    def _answer(self, method: str, r: Recorded) -> dict[str, Any]:
        if (method, r.path) == ("GET", "/public/instruments"):
            data = [SPOT_BTC_USDT] if r.query["instType"] == "SPOT" else []
            return {"code": "0", "msg": "", "data": data}
        if (method, r.path) == ("GET", "/market/history-candles"):
            # Records newer than `before` and older than `after`, newest first.
            limit = min(int(r.query.get("limit", 100)), self.page_limit)
            before, after = int(r.query.get("before", -1)), int(r.query.get("after", 2**62))
            found = [c for c in reversed(self.candles) if before < c.ts < after][:limit]
            return {"code": "0", "msg": "", "data": [c.reply() for c in found]}
        if (method, r.path) == ("GET", "/market/history-trades"):
            assert r.query.get("type") == "1", "paged by trade id"
            limit = min(int(r.query.get("limit", 100)), self.page_limit)
            after = int(r.query.get("after", 2**62))
            older = [t for t in reversed(self.trades) if t.trade_id < after][:limit]
            return {"code": "0", "msg": "", "data": [t.reply() for t in older]}
        if (method, r.path) == ("GET", "/market/books"):
            return {"code": "0", "msg": "", "data": [self.books.pop(0)]}
        raise AssertionError(f"the fake OKX has no route for {method} {r.path}")


def okx_with(fake: FakeOkxHistory, *, now_ms: int) -> Any:
    """A real ccxt.okx talking to ``fake``, its clock stopped at ``now_ms``."""
    exchange = ccxt.okx({"enableRateLimit": False})
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.session = fake
    exchange.milliseconds = lambda: now_ms
    return exchange
