"""Execution algorithms in the pure domain: a parent order worked through child orders.

``core`` has the parent order, its children, the step functions and the rules every
algorithm keeps; one module per algorithm has its decisions. Importing this package makes
every algorithm known to ``algorithm_from_config`` and ``ParentOrder.from_dict``.
"""

from execution.domain.algos.core import (
    Action,
    Algorithm,
    CancelChild,
    ChildOrder,
    ChildReport,
    Ending,
    Finish,
    MarketView,
    ParentOrder,
    ParentStatus,
    PlaceChild,
    Step,
    algorithm_from_config,
)
from execution.domain.algos.iceberg import Iceberg
from execution.domain.algos.limit import LimitWithTimeout
from execution.domain.algos.market import Market
from execution.domain.algos.params import InvalidAlgoConfig
from execution.domain.algos.pov import Pov
from execution.domain.algos.schedule import SlicedSchedule
from execution.domain.algos.twap import Twap
from execution.domain.algos.vwap import Vwap

__all__ = [
    "Action",
    "Algorithm",
    "CancelChild",
    "ChildOrder",
    "ChildReport",
    "Ending",
    "Finish",
    "Iceberg",
    "InvalidAlgoConfig",
    "LimitWithTimeout",
    "Market",
    "MarketView",
    "ParentOrder",
    "ParentStatus",
    "PlaceChild",
    "Pov",
    "SlicedSchedule",
    "Step",
    "Twap",
    "Vwap",
    "algorithm_from_config",
]
