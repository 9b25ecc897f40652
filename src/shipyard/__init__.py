"""Shipyard: zero-downtime blue-green deploys behind nginx."""

__version__ = "0.1.0"
