"""A job bar: progress bar, a status line with the time left, and a Cancel button, for one background job."""
from __future__ import annotations

import time
from typing import Optional

from PySide6 import QtCore, QtGui, QtWidgets

from core.progress import Eta, Progress, format_duration


class ElidedLabel(QtWidgets.QLabel):
    """One line of text that never widens its window: cut with "…" where space ends, whole in the tooltip."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, _ev) -> None:
        p = QtGui.QPainter(self)
        shown = self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, self.width())
        p.drawText(self.rect(), int(self.alignment() | QtCore.Qt.AlignmentFlag.AlignVCenter), shown)


class JobBar(QtWidgets.QWidget):
    """Shows how far a background job is and how long it still takes; Cancel asks it to stop.

    The time left comes from :class:`core.progress.Eta`: the rate counts only
    the steps done since the first report, so a resumed job (its first
    report already part way) is not taken for a fast one.

    Parameters
    ----------
    stacked : bool
        Status line under the bar (narrow places) instead of beside it.
    cancel : bool
        Show a Cancel button (a panel that has its own leaves it out).
    bar_format : str
        Text in the bar (QProgressBar format, e.g. ``"%v / %m frames"``).
    hide_idle : bool
        Hide the bar and Cancel until a job starts (Cancel again once it has ended).

    Signals
    -------
    cancelled()
        Cancel was clicked.
    """

    cancelled = QtCore.Signal()

    def __init__(self, stacked: bool = False, cancel: bool = True, bar_format: str = "%v / %m",
                 hide_idle: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setFormat(bar_format)
        self.status = QtWidgets.QLabel("") if stacked else ElidedLabel("")
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancelled)
        self._has_cancel, self._hide_idle = cancel, hide_idle
        self.cancel_btn.setVisible(cancel and not hide_idle)
        self.bar.setVisible(not hide_idle)
        self.eta = Eta()
        self.started = time.monotonic()
        if stacked:
            self.status.setWordWrap(True)
            lay = QtWidgets.QVBoxLayout(self)
            self._row = QtWidgets.QHBoxLayout()
            self._row.addWidget(self.bar, 1)
            self._row.addWidget(self.cancel_btn)
            lay.addLayout(self._row)
            lay.addWidget(self.status)
        else:
            self.bar.setMaximumWidth(220)
            lay = self._row = QtWidgets.QHBoxLayout(self)
            for w in (self.cancel_btn, self.bar):
                lay.addWidget(w)
            lay.addWidget(self.status, 1)
        lay.setContentsMargins(0, 0, 0, 0)

    def insert_widget(self, index: int, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` into the bar's row at ``index`` (0: before everything)."""
        self._row.insertWidget(index, widget)

    def start(self, total: int, text: str = "starting…") -> None:
        """A job of ``total`` steps starts: bar at 0 and shown, Cancel on, the clock reset."""
        self.eta = Eta()
        self.started = time.monotonic()
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(0)
        self.bar.setVisible(True)
        self.status.setText(text)
        self.cancel_btn.setEnabled(True)
        self.cancel_btn.setVisible(self._has_cancel)

    def show_progress(self, p: Progress, total: Optional[int] = None, now: Optional[float] = None) -> float:
        """Move the bar to ``p``; returns the time left in s (nan while unknown).

        ``total`` replaces ``p.total`` when the job does not know its size;
        ``now`` is the report's ``time.monotonic()`` (default: now).
        """
        total = p.total if total is None else total
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(min(p.step, total))
        return self.eta.seconds_left(p.step, total, now)

    def elapsed(self) -> float:
        """Seconds since :meth:`start`."""
        return time.monotonic() - self.started

    @staticmethod
    def eta_text(seconds: float) -> str:
        """``ETA mm:ss`` (``ETA --:--`` while unknown)."""
        return f"ETA {format_duration(seconds)}"

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def stop(self, text: Optional[str] = None, hide: bool = False) -> None:
        """The job has ended: Cancel off; optionally a last word and the bar hidden."""
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setVisible(self._has_cancel and not self._hide_idle)
        if text is not None:
            self.status.setText(text)
        if hide:
            self.bar.setVisible(False)
