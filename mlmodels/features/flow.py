"""Trade-flow features: what aggressive buyers and sellers did in each bar, split at the large
order size, and the VPIN-style toxicity of the flow.

Buy volume is buyer-initiated (it lifted the ask), sell volume seller-initiated (it hit the
bid). Imbalances are (buy - sell) / (buy + sell) in [-1, 1], 0 when nothing traded.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlmodels.features.config import FeatureConfig
from mlmodels.features.formulas import ratio, ratio_of
from mlmodels.features.inputs import FeatureInputs, FeatureRow, InputBundle
from mlmodels.features.primitives import FloatArray, RollingSum, window_counts
from mlmodels.features.spec import TRADES, FeatureGroup, FeatureSpec

FLOW, MICRO = FeatureGroup.ORDER_FLOW, FeatureGroup.MICROSTRUCTURE
LARGE = ("large_buy_volume", "large_sell_volume")
ALL = (*TRADES, *LARGE)
COUNT = ("buy_volume", "sell_volume", "trade_count")


class TradeFlowFeatures:
    """Features of each bar's trade flow."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.TRADES})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        fw, vw = c.flow_window, c.vpin_window
        return [
            FeatureSpec(
                "buy_volume", FLOW, "buyer-initiated volume (lifted the ask)", TRADES[:1], 0
            ),
            FeatureSpec(
                "sell_volume", FLOW, "seller-initiated volume (hit the bid)", TRADES[1:], 0
            ),
            FeatureSpec("net_flow", FLOW, "buy_volume - sell_volume", TRADES, 0),
            FeatureSpec("flow_imbalance", FLOW, "(buy - sell) / (buy + sell) volume", TRADES, 0),
            FeatureSpec(
                f"flow_imbalance_{fw}",
                FLOW,
                f"net flow / total flow over the last {fw} bars",
                TRADES,
                fw - 1,
            ),
            FeatureSpec(
                "large_buy_volume",
                FLOW,
                f"buy volume in trades of at least {c.large_order_threshold:g} (large orders)",
                LARGE[:1],
                0,
            ),
            FeatureSpec(
                "large_sell_volume",
                FLOW,
                f"sell volume in trades of at least {c.large_order_threshold:g}",
                LARGE[1:],
                0,
            ),
            FeatureSpec("large_net_flow", FLOW, "large buy - large sell volume", LARGE, 0),
            FeatureSpec(
                "small_net_flow", FLOW, "net flow of the trades below the threshold", ALL, 0
            ),
            FeatureSpec("large_order_share", FLOW, "large volume / all volume", ALL, 0),
            FeatureSpec("large_flow_imbalance", FLOW, "imbalance of the large trades", LARGE, 0),
            FeatureSpec("small_flow_imbalance", FLOW, "imbalance of the small trades", ALL, 0),
            FeatureSpec("trade_count", FLOW, "number of trades in the bar", ("trade_count",), 0),
            FeatureSpec(
                "average_trade_size", FLOW, "(buy + sell volume) / trade count; 0 if none", COUNT, 0
            ),
            FeatureSpec(
                f"trade_intensity_{fw}",
                FLOW,
                f"trade count / its {fw}-bar mean; 0 when there were no trades",
                ("trade_count",),
                fw - 1,
            ),
            FeatureSpec(
                f"vpin_{vw}",
                MICRO,
                f"VPIN-style toxicity: sum |buy - sell| / sum (buy + sell) over {vw} bars, 0-1 "
                "(1: one-sided, informed-looking flow)",
                TRADES,
                vw - 1,
            ),
        ]

    def __init__(self, config: FeatureConfig) -> None:
        self._flow_window = config.flow_window
        self._net = RollingSum(config.flow_window)
        self._total = RollingSum(config.flow_window)
        self._count = RollingSum(config.flow_window)
        self._toxic = RollingSum(config.vpin_window)
        self._traded = RollingSum(config.vpin_window)
        self._rows = 0

    def extend(self, x: FeatureInputs) -> list[FloatArray]:
        assert x.trades is not None  # the family runs only with trades
        t = x.trades
        buy, sell, count = t.buy_volume, t.sell_volume, t.trade_count
        large_buy, large_sell = t.large_buy_volume, t.large_sell_volume
        small_buy, small_sell = buy - large_buy, sell - large_sell
        net, total = buy - sell, buy + sell
        large_total = large_buy + large_sell
        small_total = small_buy + small_sell
        counts = window_counts(self._rows, len(x), self._flow_window)
        mean_count = self._count.extend(count) / counts
        self._rows += len(x)
        return [
            buy,
            sell,
            net,
            ratio(net, total),
            ratio(self._net.extend(net), self._total.extend(total)),
            large_buy,
            large_sell,
            large_buy - large_sell,
            small_buy - small_sell,
            ratio(large_total, total),
            ratio(large_buy - large_sell, large_total),
            ratio(small_buy - small_sell, small_total),
            count,
            ratio(total, count),
            ratio(count, mean_count),
            ratio(self._toxic.extend(np.abs(net)), self._traded.extend(total)),
        ]

    def push(self, row: FeatureRow) -> list[float]:
        assert row.trades is not None
        t = row.trades
        buy, sell, count = t.buy_volume, t.sell_volume, t.trade_count
        large_buy, large_sell = t.large_buy_volume, t.large_sell_volume
        small_buy, small_sell = buy - large_buy, sell - large_sell
        net, total = buy - sell, buy + sell
        large_total = large_buy + large_sell
        small_total = small_buy + small_sell
        self._rows += 1
        mean_count = self._count.push(count) / float(min(self._rows, self._flow_window))
        return [
            buy,
            sell,
            net,
            ratio_of(net, total),
            ratio_of(self._net.push(net), self._total.push(total)),
            large_buy,
            large_sell,
            large_buy - large_sell,
            small_buy - small_sell,
            ratio_of(large_total, total),
            ratio_of(large_buy - large_sell, large_total),
            ratio_of(small_buy - small_sell, small_total),
            count,
            ratio_of(total, count),
            ratio_of(count, mean_count),
            ratio_of(self._toxic.push(abs(net)), self._traded.push(total)),
        ]
