"""A non-blocking message strip: the last problem, with a way to see earlier ones."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

_STYLE = {
    "info": "background:#e8f1fb; color:#123; border:1px solid #9bc;",
    "warning": "background:#fff4d6; color:#430; border:1px solid #d9b45a;",
    "error": "background:#fde2e1; color:#500; border:1px solid #d77;",
}


class MessageArea(QtWidgets.QFrame):
    """Shows warnings and errors above the status bar until dismissed; never blocks.

    Info messages only go to the status bar; this strip is for what needs
    reading (a file that could not be read and what to do about it).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.more = QtWidgets.QToolButton(text="earlier…")
        self.more.setToolTip("Show all messages of this session")
        self.more.clicked.connect(self._show_all)
        close = QtWidgets.QToolButton(text="✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.more)
        lay.addWidget(close)
        self.history: list[tuple[str, str]] = []
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, level: str = "info") -> None:
        self.history.append((text, level))
        if level == "info":
            return
        self.label.setText(text)
        self.setStyleSheet(f"MessageArea {{{_STYLE.get(level, _STYLE['info'])}}}")
        self.more.setVisible(len([h for h in self.history if h[1] != "info"]) > 1)
        self.show()

    def _show_all(self) -> None:
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Messages")
        box.setText("\n\n".join(f"[{lv}] {t}" for t, lv in self.history[-30:]))
        box.setModal(False)
        box.show()
