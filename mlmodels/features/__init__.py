"""The feature library: order-flow, microstructure, technical and derived features of a bar
series, computed vectorised over a series (``compute_features``) or one new row at a time
(``FeatureState.update``) with the same values, and described by a catalogue.

Pure numpy: no Django here (the API and admin expose ``catalogue`` as data).
"""

from mlmodels.features.compute import (
    DEFINITIONS_VERSION,
    FeatureHealth,
    FeatureMatrix,
    FeatureState,
    MissingFeatureInputs,
    catalogue,
    catalogue_hash,
    compute_features,
    nan_report,
)
from mlmodels.features.config import FeatureConfig
from mlmodels.features.inputs import (
    BookSnapshot,
    FeatureInputs,
    FeatureRow,
    InputBundle,
    InvalidFeatureInputs,
    OrderBookSeries,
    TradeFlow,
    TradeFlowSeries,
    trade_flow_bars,
)
from mlmodels.features.spec import FeatureGroup, FeatureSpec

__all__ = [
    "DEFINITIONS_VERSION",
    "BookSnapshot",
    "FeatureConfig",
    "FeatureGroup",
    "FeatureHealth",
    "FeatureInputs",
    "FeatureMatrix",
    "FeatureRow",
    "FeatureSpec",
    "FeatureState",
    "InputBundle",
    "InvalidFeatureInputs",
    "MissingFeatureInputs",
    "OrderBookSeries",
    "TradeFlow",
    "TradeFlowSeries",
    "catalogue",
    "catalogue_hash",
    "compute_features",
    "nan_report",
    "trade_flow_bars",
]
