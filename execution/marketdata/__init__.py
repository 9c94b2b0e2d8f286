"""Market data history from outside: candles, trades and L2 book snapshots.

Pure Python (numpy and pandas, no Django): every source is a ``Loader`` that yields validated
columnar batches (``base``), checked by the same rules (``validation``). Sources: data files
shipped inside packages (``packages``), a CSV file of one's own (``files``) and any ccxt
exchange (``exchange``); ``sources.loader_for`` turns a name such as ``backtesting:EURUSD``
into a loader. execution.services.market_history writes the batches.
"""
