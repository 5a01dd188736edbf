"""Actions: one helper so every action shows its shortcut in the menu and the tooltip."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

from PySide6 import QtGui, QtWidgets

from .resources import icon

Keys = Union[str, QtGui.QKeySequence.StandardKey, Sequence[str], None]


def make_action(parent: QtWidgets.QWidget, text: str, shortcut: Keys = None, tip: str = "",
                triggered: Optional[Callable] = None, checkable: bool = False,
                icon_name: Optional[str] = None) -> QtGui.QAction:
    """A QAction added to ``parent`` (so its shortcut works inside it), tooltip ``"tip (Ctrl+Z)"``."""
    a = QtGui.QAction(text, parent)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            a.setShortcuts([QtGui.QKeySequence(s) for s in shortcut])
        else:
            a.setShortcut(QtGui.QKeySequence(shortcut))
    keys = a.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
    label = tip or text.replace("&", "")
    a.setToolTip(f"{label} ({keys})" if keys else label)
    a.setStatusTip(label)
    a.setCheckable(checkable)
    if icon_name:
        ic = icon(icon_name)
        if ic is not None:
            a.setIcon(ic)
    if triggered is not None:
        a.triggered.connect(lambda *_: triggered())
    parent.addAction(a)
    return a


def fill_menu(menu: QtWidgets.QMenu, actions) -> None:
    """Add actions to a menu; ``None`` is a separator."""
    for a in actions:
        menu.addSeparator() if a is None else menu.addAction(a)


def set_icons(pairs) -> None:
    """Give actions their icons from resources/icons: ``[(action, "draw"), ...]``."""
    for a, name in pairs:
        ic = icon(name)
        if ic is not None:
            a.setIcon(ic)
