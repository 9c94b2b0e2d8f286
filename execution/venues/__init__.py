"""Venues: the exchanges orders go to (the paper exchange, and live exchanges through ccxt)."""
