"""A frame navigator: slider, frame number box and a line saying which frame is shown."""
from __future__ import annotations

from typing import Iterable, Optional

from PySide6 import QtCore, QtGui, QtWidgets

MARK_COLOUR = QtGui.QColor(20, 150, 90)


class MarkedSlider(QtWidgets.QSlider):
    """A horizontal slider with short bars under its groove at marked values (e.g. annotated frames)."""

    def __init__(self, parent=None) -> None:
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self.marks: frozenset[int] = frozenset()
        self.setMinimumHeight(max(self.sizeHint().height(), 22))

    def set_marks(self, values: Iterable[int]) -> None:
        self.marks = frozenset(int(v) for v in values)
        self.update()

    def mark_x(self, value: int) -> int:
        """Widget x (px) of a value's mark: where the handle's centre is at that value."""
        opt = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(opt)
        st = self.style()
        groove = st.subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                   QtWidgets.QStyle.SubControl.SC_SliderGroove, self)
        handle = st.subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                   QtWidgets.QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        return groove.x() + handle.width() // 2 + QtWidgets.QStyle.sliderPositionFromValue(
            self.minimum(), self.maximum(), value, span)

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(ev)
        if not self.marks:
            return
        p = QtGui.QPainter(self)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(MARK_COLOUR)
        h = self.height()
        for v in self.marks:
            if self.minimum() <= v <= self.maximum():
                p.drawRect(QtCore.QRect(self.mark_x(v) - 1, h - 5, 3, 5))
        p.end()


class FrameNavigator(QtWidgets.QWidget):
    """Choose a frame with a slider or a number box; a label tells its position, time and name.

    The slider and the box stay in step; :attr:`frameChanged` fires once
    per change, whichever was moved. Panels add their own check boxes at
    the end of the row with :meth:`add_widget`, and mark frames on the
    slider (green bars under the groove) with :meth:`set_marks`.

    Signals
    -------
    frameChanged(int)
        The frame chosen (0-based).
    """

    frameChanged = QtCore.Signal(int)

    def __init__(self, tip: str = "Frame (Page Up / Page Down)", label_width: int = 200,
                 spin_tip: str = "", parent=None) -> None:
        super().__init__(parent)
        self.slider = MarkedSlider()
        self.slider.setToolTip(tip)
        self.spin = QtWidgets.QSpinBox()
        if spin_tip:
            self.spin.setToolTip(spin_tip)
        self.label = QtWidgets.QLabel("—")
        self.label.setMinimumWidth(label_width)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.slider.valueChanged.connect(self.frameChanged)
        self._row = QtWidgets.QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        for w, stretch in ((QtWidgets.QLabel("Frame"), 0), (self.slider, 1), (self.spin, 0), (self.label, 0)):
            self._row.addWidget(w, stretch)

    def add_widget(self, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` at the end of the row."""
        self._row.addWidget(widget)

    def set_marks(self, frames: Iterable[int], what: str = "") -> None:
        """Mark these frames on the slider; ``what`` names them in the slider's tooltip."""
        self.slider.set_marks(frames)
        base = self.slider.toolTip().split("\n")[0]
        n = len(self.slider.marks)
        self.slider.setToolTip(base + (f"\nGreen bars: {what} ({n})" if what and n else ""))

    def marks(self) -> frozenset:
        return self.slider.marks

    def value(self) -> int:
        return self.slider.value()

    def set_value(self, index: int) -> None:
        """Go to frame ``index`` (clipped to the range); emits :attr:`frameChanged` when it changes."""
        self.slider.setValue(index)

    def step(self, delta: int) -> None:
        """Go ``delta`` frames forward (negative: back), as Page Down / Page Up do."""
        self.slider.setValue(self.slider.value() + delta)

    def maximum(self) -> int:
        return self.slider.maximum()

    def set_count(self, n: int, value: Optional[int] = None) -> None:
        """Offer frames 0 .. n-1 (at least frame 0) without emitting; with ``value``, also go there silently."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setRange(0, max(n, 1) - 1)
            if value is not None:
                w.setValue(value)
            w.blockSignals(False)

    def show_position(self, index: int, count: int, time_s: Optional[float] = None, name: str = "") -> None:
        """Say which frame is shown: ``index + 1 / count``, its time in s and its name when known."""
        self.label.setText(f"{index + 1} / {count}" + (f"   t = {time_s:.3f} s" if time_s is not None else "")
                           + (f"   {name}" if name else ""))
