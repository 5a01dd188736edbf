"""Dislocation Studio core: the headless library (never imports Qt)."""

__version__ = "0.1.0"
