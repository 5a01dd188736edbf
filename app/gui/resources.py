"""Icons and presets shipped in ``resources/``, found with importlib.resources (works installed or not)."""
from __future__ import annotations

from importlib import resources
from typing import Optional

from PySide6 import QtGui


def resource_path(*parts: str):
    """A Traversable for ``resources/<parts...>``."""
    t = resources.files("resources")
    for p in parts:
        t = t.joinpath(p)
    return t


def icon(name: str) -> Optional[QtGui.QIcon]:
    """``resources/icons/<name>.svg`` (or .png) as a QIcon; None when absent."""
    for ext in (".svg", ".png"):
        t = resource_path("icons", name + ext)
        if t.is_file():
            pm = QtGui.QPixmap()
            pm.loadFromData(t.read_bytes())
            return QtGui.QIcon(pm)
    return None
