"""Parameter controls: a slider with a spin box per number, a combo box per choice.

A :class:`ParamForm` is built from parameter specs (name, kind, bounds,
unit, doc) and emits ``changed(name, value)`` when the user moves a control;
setting values from code (:meth:`ParamForm.set_values`) emits nothing.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from PySide6 import QtCore, QtWidgets

_STEPS = 1000  # slider resolution for float parameters


class ParamRow(QtWidgets.QWidget):
    """A slider and a spin box kept in step, for one int or float parameter."""

    valueChanged = QtCore.Signal(object)

    def __init__(self, kind: str, lo: float, hi: float, decimals: int = 2, parent=None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(110)
        if kind == "int":
            self.spin = QtWidgets.QSpinBox()
        else:
            self.spin = QtWidgets.QDoubleSpinBox()
            self.spin.setDecimals(decimals)
        self.spin.setKeyboardTracking(False)  # typing "120" must not render 1, 12 and 120
        self.spin.setMinimumWidth(72)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.set_range(lo, hi)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def set_range(self, lo: float, hi: float) -> None:
        self.lo, self.hi = float(lo), float(max(hi, lo))
        with QtCore.QSignalBlocker(self.slider), QtCore.QSignalBlocker(self.spin):
            if self.kind == "int":
                self.slider.setRange(int(lo), int(hi))
                self.spin.setRange(int(lo), int(hi))
            else:
                self.slider.setRange(0, _STEPS)
                self.spin.setRange(lo, hi)
                span = self.hi - self.lo
                self.spin.setSingleStep(10 ** round(math.log10(span / 100)) if span > 0 else 0.01)

    def value(self) -> Any:
        return int(self.spin.value()) if self.kind == "int" else float(self.spin.value())

    def set_value(self, v: Any) -> None:
        """Set without emitting (widen the range when a value lies outside it)."""
        v = float(v)
        if v < self.lo or v > self.hi:
            self.set_range(min(v, self.lo), max(v, self.hi))
        with QtCore.QSignalBlocker(self.slider), QtCore.QSignalBlocker(self.spin):
            self.spin.setValue(int(round(v)) if self.kind == "int" else v)
            self.slider.setValue(self._to_slider(v))

    def _to_slider(self, v: float) -> int:
        if self.kind == "int":
            return int(round(v))
        return int(round((v - self.lo) / (self.hi - self.lo) * _STEPS)) if self.hi > self.lo else 0

    def _from_slider(self, s: int) -> None:
        v = s if self.kind == "int" else self.lo + (self.hi - self.lo) * s / _STEPS
        with QtCore.QSignalBlocker(self.spin):
            self.spin.setValue(v)
        self.valueChanged.emit(self.value())

    def _from_spin(self, v) -> None:
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setValue(self._to_slider(v))
        self.valueChanged.emit(self.value())


class ChoiceRow(QtWidgets.QComboBox):
    valueChanged = QtCore.Signal(object)

    def __init__(self, choices, parent=None) -> None:
        super().__init__(parent)
        self.addItems([str(c) for c in choices])
        self.currentTextChanged.connect(lambda t: self.valueChanged.emit(t))

    def value(self) -> str:
        return self.currentText()

    def set_value(self, v: Any) -> None:
        with QtCore.QSignalBlocker(self):
            self.setCurrentText(str(v))


class ParamForm(QtWidgets.QWidget):
    """Groups of labelled controls.

    Parameters
    ----------
    groups : list of (title, [spec, ...])
        ``spec`` has ``name``, ``kind`` (int/float/choice), ``lo``, ``hi``,
        ``choices``, ``unit``, ``doc`` (like :class:`core.synth.params.ParamSpec`).
    spans : dict name -> (lo, hi)
        Slider ranges (default: the spec bounds).
    """

    changed = QtCore.Signal(str, object)

    def __init__(self, groups, spans: Optional[dict] = None, parent=None) -> None:
        super().__init__(parent)
        spans = spans or {}
        self.rows: dict[str, QtWidgets.QWidget] = {}
        self.labels: dict[str, QtWidgets.QLabel] = {}
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for title, specs in groups:
            box = QtWidgets.QGroupBox(title)
            form = QtWidgets.QFormLayout(box)
            form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignRight)
            for s in specs:
                if s.kind == "choice":
                    row = ChoiceRow(s.choices)
                else:
                    lo, hi = spans.get(s.name, (s.lo, s.hi))
                    row = ParamRow(s.kind, lo, hi, decimals=3 if (hi - lo) < 2 else 1)
                tip = f"{s.name}: {s.doc}" + (f" [{s.unit}]" if s.unit else "")
                row.setToolTip(tip)
                text = s.name.replace("_", " ") + (f" ({s.unit})" if s.unit else "")
                label = QtWidgets.QLabel(text)
                label.setToolTip(tip)
                form.addRow(label, row)
                row.valueChanged.connect(lambda v, n=s.name: self.changed.emit(n, v))
                self.rows[s.name] = row
                self.labels[s.name] = label
            lay.addWidget(box)
        lay.addStretch(1)

    def set_values(self, values: dict) -> None:
        """Show values (no ``changed`` signals)."""
        for k, v in values.items():
            if k in self.rows:
                self.rows[k].set_value(v)

    def set_span(self, name: str, lo: float, hi: float) -> None:
        row = self.rows.get(name)
        if isinstance(row, ParamRow):
            v = row.value()
            row.set_range(lo, hi)
            row.set_value(v)

    def values(self) -> dict:
        return {k: r.value() for k, r in self.rows.items()}
