"""Writes of the trading core: each a keyword-only function, one transaction each."""
