"""Technical features of the candles (and of their volume), with the derived features built on
them: signal flags, Bollinger bands, momentum ratios and a trend score.

Conventions: returns are simple (close_t / close_{t-k} - 1); averages, RSI, MACD and ATR are
of the close; Wilder's smoothing is an exponential average with alpha = 1 / period, an EMA of
span s has alpha = 2 / (s + 1), both seeded with the first value. Prices in ratios (to the
close, an average or a band) make features comparable across instruments.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import ClassVar

import numpy as np

from mlmodels.features.config import FeatureConfig
from mlmodels.features.formulas import flag, ratio, ratio_of, squash, squash_of
from mlmodels.features.inputs import FeatureInputs, FeatureRow, InputBundle
from mlmodels.features.primitives import (
    ExponentialAverage,
    FloatArray,
    Lags,
    RollingExtreme,
    RollingMeanVar,
    RollingSum,
    window_counts,
)
from mlmodels.features.spec import FeatureGroup, FeatureSpec

T, D = FeatureGroup.TECHNICAL, FeatureGroup.DERIVED
C = ("close",)
HLC = ("high", "low", "close")


def _pairs(windows: tuple[int, ...]) -> list[tuple[int, int]]:
    return list(pairwise(windows))


class PriceFeatures:
    """Features of open, high, low and close."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.CANDLES})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        p, bw, sw = c.rsi_period, c.bollinger_window, c.stochastic_window
        f, s, g = c.macd_fast, c.macd_slow, c.macd_signal
        macd_warm = s + g - 2
        atr = c.atr_period
        return [
            *(
                FeatureSpec(f"return_{k}", T, f"close / close {k} bars back - 1", C, k)
                for k in c.return_lags
            ),
            *(
                FeatureSpec(
                    f"sma_ratio_{w}", T, f"close / its {w}-bar simple average - 1", C, w - 1
                )
                for w in c.sma_windows
            ),
            *(
                FeatureSpec(f"ema_ratio_{e}", T, f"close / its span-{e} EMA - 1", C, e - 1)
                for e in c.ema_spans
            ),
            FeatureSpec(
                f"rsi_{p}",
                T,
                f"Wilder's RSI over {p} bars, 0-100: 100 avg gain / (avg gain + avg loss); 50 "
                "when the close has not moved",
                C,
                p,
            ),
            FeatureSpec(
                f"macd_{f}_{s}", T, f"MACD: (EMA {f} - EMA {s}) of the close / close", C, s - 1
            ),
            FeatureSpec(f"macd_signal_{g}", T, f"span-{g} EMA of the MACD", C, macd_warm),
            FeatureSpec("macd_histogram", T, "MACD - its signal", C, macd_warm),
            FeatureSpec(
                f"bollinger_position_{bw}",
                T,
                f"where the close sits in its {bw}-bar Bollinger bands (+-{c.bollinger_width:g} "
                "std): 0 at the lower band, 1 at the upper; 0.5 when the bands are flat",
                C,
                bw - 1,
            ),
            FeatureSpec(f"atr_{atr}", T, f"Wilder's average true range over {atr} bars", HLC, atr),
            FeatureSpec(f"atr_ratio_{atr}", T, f"atr_{atr} / close", HLC, atr),
            *(
                FeatureSpec(
                    f"realized_volatility_{w}",
                    T,
                    f"root mean square of the last {w} one-bar returns",
                    C,
                    w,
                )
                for w in c.volatility_windows
            ),
            FeatureSpec("high_low_range", T, "(high - low) / close", HLC, 0),
            FeatureSpec(
                "close_location", T, "(close - low) / (high - low); 0.5 when high = low", HLC, 0
            ),
            FeatureSpec(
                f"stochastic_k_{sw}",
                T,
                f"stochastic %K: (close - lowest low) / (highest high - lowest low) over {sw} "
                "bars, 0-1; 0.5 when flat",
                HLC,
                sw - 1,
            ),
            FeatureSpec("gap", T, "open / previous close - 1", ("open", "close"), 1),
            *(
                FeatureSpec(
                    f"momentum_ratio_{a}_{b}",
                    D,
                    f"{a}-bar simple average / {b}-bar simple average - 1",
                    C,
                    b - 1,
                )
                for a, b in _pairs(c.sma_windows)
            ),
            *(
                FeatureSpec(
                    f"risk_adjusted_momentum_{w}",
                    D,
                    f"the {w}-bar return in units of realized_volatility_{w} x sqrt({w}); 0 when "
                    "the volatility is 0",
                    C,
                    w,
                )
                for w in c.volatility_windows
            ),
            FeatureSpec(
                f"rsi_overbought_{p}", D, f"1 when rsi_{p} > {c.rsi_overbought:g}, else 0", C, p
            ),
            FeatureSpec(
                f"rsi_oversold_{p}", D, f"1 when rsi_{p} < {c.rsi_oversold:g}, else 0", C, p
            ),
            FeatureSpec(
                f"bollinger_upper_ratio_{bw}", D, "upper Bollinger band / close - 1", C, bw - 1
            ),
            FeatureSpec(
                f"bollinger_lower_ratio_{bw}", D, "lower Bollinger band / close - 1", C, bw - 1
            ),
            FeatureSpec(
                f"bollinger_bandwidth_{bw}", D, "(upper - lower band) / middle band", C, bw - 1
            ),
            FeatureSpec(
                f"bollinger_breakout_{bw}",
                D,
                "1 when the close is above the upper band, -1 below the lower, else 0",
                C,
                bw - 1,
            ),
            FeatureSpec(
                "macd_cross",
                D,
                "1 on the bar the MACD histogram turns positive, -1 when it turns negative",
                C,
                macd_warm + 1,
            ),
            *(
                FeatureSpec(
                    f"volatility_ratio_{a}_{b}",
                    D,
                    f"realized_volatility_{a} / realized_volatility_{b}; 1 when both are 0",
                    C,
                    b,
                )
                for a, b in _pairs(c.volatility_windows)
            ),
            FeatureSpec(
                "trend_score",
                D,
                f"mean of (rsi_{p} - 50) / 50, 2 bollinger_position_{bw} - 1 (clipped to +-1) "
                "and the squashed MACD histogram in ATRs: -1 (down) to 1 (up)",
                HLC,
                max(p, bw - 1, macd_warm, atr),
            ),
        ]

    def __init__(self, config: FeatureConfig) -> None:
        c = self._config = config
        self._lags = sorted({1, *c.return_lags, *c.volatility_windows})
        self._closes = Lags(max(self._lags) + 1)
        self._sma = [RollingSum(w) for w in c.sma_windows]
        spans = sorted({*c.ema_spans, c.macd_fast, c.macd_slow})
        self._ema = {span: ExponentialAverage(2.0 / (span + 1)) for span in spans}
        self._signal = ExponentialAverage(2.0 / (c.macd_signal + 1))
        self._gains = ExponentialAverage(1.0 / c.rsi_period)
        self._losses = ExponentialAverage(1.0 / c.rsi_period)
        self._band = RollingMeanVar(c.bollinger_window)
        self._true_range = ExponentialAverage(1.0 / c.atr_period)
        self._squared_returns = [RollingSum(w) for w in c.volatility_windows]
        self._roots = [math.sqrt(w) for w in c.volatility_windows]
        self._highest = RollingExtreme(c.stochastic_window, largest=True)
        self._lowest = RollingExtreme(c.stochastic_window, largest=False)
        self._histogram = math.nan  # the previous bar's, for macd_cross
        self._rows = 0

    def extend(self, x: FeatureInputs) -> list[FloatArray]:
        c = self._config
        close, high, low, n, first = x.close, x.high, x.low, len(x), self._rows
        back = dict(zip(self._lags, self._closes.extend(close, self._lags), strict=True))
        previous = back[1]
        smas = [
            total.extend(close) / window_counts(first, n, w)
            for total, w in zip(self._sma, c.sma_windows, strict=True)
        ]
        emas = {span: average.extend(close) for span, average in self._ema.items()}
        gained = close - previous
        lost = previous - close
        one_bar = close / previous - 1.0
        if first == 0:  # no move before the first bar
            gained[0] = lost[0] = one_bar[0] = 0.0
        gains = self._gains.extend(np.maximum(gained, 0.0))
        losses = self._losses.extend(np.maximum(lost, 0.0))
        rsi = 100.0 * ratio(gains, gains + losses, 0.5)
        macd = (emas[c.macd_fast] - emas[c.macd_slow]) / close
        signal = self._signal.extend(macd)
        histogram = macd - signal
        mean, variance = self._band.extend(close)
        deviation = np.sqrt(variance)
        upper = mean + c.bollinger_width * deviation
        lower = mean - c.bollinger_width * deviation
        position = ratio(close - lower, upper - lower, 0.5)
        span = high - low
        true_range = np.maximum(np.maximum(span, np.abs(high - previous)), np.abs(low - previous))
        if first == 0:
            true_range[0] = span[0]
        atr = self._true_range.extend(true_range)
        atr_ratio = atr / close
        volatility = [
            np.sqrt(total.extend(one_bar * one_bar) / float(w))
            for total, w in zip(self._squared_returns, c.volatility_windows, strict=True)
        ]
        highest = self._highest.extend(high)
        lowest = self._lowest.extend(low)
        earlier = np.concatenate(([self._histogram], histogram[:-1]))
        self._histogram = float(histogram[-1])
        self._rows += n
        return [
            *(close / back[k] - 1.0 for k in c.return_lags),
            *(close / sma - 1.0 for sma in smas),
            *(close / emas[e] - 1.0 for e in c.ema_spans),
            rsi,
            macd,
            signal,
            histogram,
            position,
            atr,
            atr_ratio,
            *volatility,
            span / close,
            ratio(close - low, span, 0.5),
            ratio(close - lowest, highest - lowest, 0.5),
            x.open / previous - 1.0,
            *(smas[i] / smas[i + 1] - 1.0 for i in range(len(smas) - 1)),
            *(
                ratio(close / back[w] - 1.0, vol * root)
                for w, vol, root in zip(c.volatility_windows, volatility, self._roots, strict=True)
            ),
            flag(rsi > c.rsi_overbought),
            flag(rsi < c.rsi_oversold),
            upper / close - 1.0,
            lower / close - 1.0,
            (upper - lower) / mean,
            flag(close > upper) - flag(close < lower),
            flag((histogram > 0.0) & (earlier <= 0.0)) - flag((histogram < 0.0) & (earlier >= 0.0)),
            *(ratio(volatility[i], volatility[i + 1], 1.0) for i in range(len(volatility) - 1)),
            (
                (rsi - 50.0) / 50.0
                + np.clip(2.0 * position - 1.0, -1.0, 1.0)
                + squash(ratio(histogram, atr_ratio))
            )
            / 3.0,
        ]

    def push(self, row: FeatureRow) -> list[float]:
        c = self._config
        close, high, low = row.close, row.high, row.low
        closes = self._closes
        closes.push(close)
        back = {k: closes.ago(k) for k in self._lags}
        previous = back[1]
        smas = [
            total.push(close) / float(min(self._rows + 1, w))
            for total, w in zip(self._sma, c.sma_windows, strict=True)
        ]
        emas = {span: average.push(close) for span, average in self._ema.items()}
        if self._rows == 0:
            gained = lost = one_bar = 0.0
        else:
            gained = close - previous
            lost = previous - close
            one_bar = close / previous - 1.0
        gains = self._gains.push(gained if gained > 0.0 else 0.0)
        losses = self._losses.push(lost if lost > 0.0 else 0.0)
        rsi = 100.0 * ratio_of(gains, gains + losses, 0.5)
        macd = (emas[c.macd_fast] - emas[c.macd_slow]) / close
        signal = self._signal.push(macd)
        histogram = macd - signal
        mean, variance = self._band.push(close)
        deviation = math.sqrt(variance)
        upper = mean + c.bollinger_width * deviation
        lower = mean - c.bollinger_width * deviation
        position = ratio_of(close - lower, upper - lower, 0.5)
        span = high - low
        if self._rows == 0:
            true_range = span
        else:
            true_range = max(span, abs(high - previous), abs(low - previous))
        atr = self._true_range.push(true_range)
        atr_ratio = atr / close
        squared = one_bar * one_bar
        volatility = [
            math.sqrt(total.push(squared) / float(w))
            for total, w in zip(self._squared_returns, c.volatility_windows, strict=True)
        ]
        highest = self._highest.push(high)
        lowest = self._lowest.push(low)
        earlier = self._histogram
        self._histogram = histogram
        self._rows += 1
        trend_band = min(max(2.0 * position - 1.0, -1.0), 1.0)
        return [
            *(close / back[k] - 1.0 for k in c.return_lags),
            *(close / sma - 1.0 for sma in smas),
            *(close / emas[e] - 1.0 for e in c.ema_spans),
            rsi,
            macd,
            signal,
            histogram,
            position,
            atr,
            atr_ratio,
            *volatility,
            span / close,
            ratio_of(close - low, span, 0.5),
            ratio_of(close - lowest, highest - lowest, 0.5),
            row.open / previous - 1.0,
            *(smas[i] / smas[i + 1] - 1.0 for i in range(len(smas) - 1)),
            *(
                ratio_of(close / back[w] - 1.0, vol * root)
                for w, vol, root in zip(c.volatility_windows, volatility, self._roots, strict=True)
            ),
            1.0 if rsi > c.rsi_overbought else 0.0,
            1.0 if rsi < c.rsi_oversold else 0.0,
            upper / close - 1.0,
            lower / close - 1.0,
            (upper - lower) / mean,
            (1.0 if close > upper else 0.0) - (1.0 if close < lower else 0.0),
            (1.0 if histogram > 0.0 and earlier <= 0.0 else 0.0)
            - (1.0 if histogram < 0.0 and earlier >= 0.0 else 0.0),
            *(ratio_of(volatility[i], volatility[i + 1], 1.0) for i in range(len(volatility) - 1)),
            ((rsi - 50.0) / 50.0 + trend_band + squash_of(ratio_of(histogram, atr_ratio))) / 3.0,
        ]


class VolumeFeatures:
    """Features of the candles' traded volume."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.CANDLES, InputBundle.VOLUME})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        w = c.volume_window
        return [
            FeatureSpec(
                f"volume_surge_{w}",
                T,
                f"volume / its {w}-bar mean; 0 when there was no volume",
                ("volume",),
                w - 1,
            ),
            FeatureSpec(
                f"vwap_deviation_{w}",
                T,
                f"close / the {w}-bar VWAP of the typical price (high + low + close) / 3 - 1; "
                "0 without volume",
                ("high", "low", "close", "volume"),
                w - 1,
            ),
            FeatureSpec(
                f"volume_weighted_return_{w}",
                D,
                f"return_1 x volume_surge_{w}: a move on heavy volume counts more",
                ("close", "volume"),
                max(1, w - 1),
            ),
        ]

    def __init__(self, config: FeatureConfig) -> None:
        w = self._window = config.volume_window
        self._volume = RollingSum(w)
        self._turnover = RollingSum(w)
        self._previous = math.nan  # close of the bar before
        self._rows = 0

    def extend(self, x: FeatureInputs) -> list[FloatArray]:
        assert x.volume is not None  # the family runs only with volume
        volume, close, n = x.volume, x.close, len(x)
        counts = window_counts(self._rows, n, self._window)
        total = self._volume.extend(volume)
        typical = (x.high + x.low + close) / 3.0
        vwap = ratio(self._turnover.extend(typical * volume), total)
        surge = ratio(volume, total / counts)
        previous = np.concatenate(([self._previous], close[:-1]))
        one_bar = close / previous - 1.0
        if self._rows == 0:
            one_bar[0] = 0.0
        self._previous = float(close[-1])
        self._rows += n
        return [surge, ratio(close, vwap, 1.0) - 1.0, one_bar * surge]

    def push(self, row: FeatureRow) -> list[float]:
        assert row.volume is not None
        volume, close = row.volume, row.close
        count = float(min(self._rows + 1, self._window))
        total = self._volume.push(volume)
        typical = (row.high + row.low + close) / 3.0
        vwap = ratio_of(self._turnover.push(typical * volume), total)
        surge = ratio_of(volume, total / count)
        one_bar = 0.0 if self._rows == 0 else close / self._previous - 1.0
        self._previous = close
        self._rows += 1
        return [surge, ratio_of(close, vwap, 1.0) - 1.0, one_bar * surge]
