"""Reusable widgets of the app (no knowledge of panels)."""
