"""The REST API of the trading core (DRF): serializers validate, views call a service or a
selector, and every error answers in one JSON shape (errors.py)."""
