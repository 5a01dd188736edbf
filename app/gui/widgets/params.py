"""Parameter controls: a slider with a spin box per number, a combo box per choice.

A :class:`ParamForm` is built from parameter specs (name, kind, bounds,
unit, doc, plain label, the paper's symbol) and emits ``changed(name,
value)`` when the user moves a control; setting values from code
(:meth:`ParamForm.set_values`) emits nothing. Rows are named in plain words;
the tooltip adds what the row does, the paper's symbol and the preset key,
and ``explained(text)`` gives the same line when the mouse enters a row.
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


def explanation(spec) -> str:
    """One line for a person: what the control does, then the paper's symbol and the preset key."""
    name = getattr(spec, "label", "") or spec.name.replace("_", " ")
    symbol = getattr(spec, "symbol", "")
    key = f"{symbol} in the paper, preset key {spec.name}" if symbol else f"preset key {spec.name}"
    return f"{name}: {spec.doc}" + (f" [{spec.unit}]" if spec.unit else "") + f" ({key})"


class ParamForm(QtWidgets.QWidget):
    """Groups of labelled controls.

    Parameters
    ----------
    groups : list of (title, explanation, [spec, ...])
        ``spec`` has ``name``, ``kind`` (int/float/choice), ``lo``, ``hi``,
        ``choices``, ``unit``, ``doc``, ``label`` and ``symbol`` (like
        :class:`core.synth.params.ParamSpec`); the explanation is a line
        under the group's title ("" for none).
    spans : dict name -> (lo, hi)
        Slider ranges (default: the spec bounds).

    Signals
    -------
    changed(str, object)
        A control was moved: parameter name and value.
    explained(str)
        The mouse entered a row: its one-line explanation.
    """

    changed = QtCore.Signal(str, object)
    explained = QtCore.Signal(str)

    def __init__(self, groups, spans: Optional[dict] = None, parent=None) -> None:
        super().__init__(parent)
        spans = spans or {}
        self.rows: dict[str, QtWidgets.QWidget] = {}
        self.labels: dict[str, QtWidgets.QLabel] = {}
        self.boxes: dict[str, QtWidgets.QGroupBox] = {}
        self._forms: dict[str, QtWidgets.QFormLayout] = {}
        self._tips: dict[QtCore.QObject, str] = {}
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for title, about, specs in groups:
            box = QtWidgets.QGroupBox(title)
            form = QtWidgets.QFormLayout(box)
            form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignRight)
            if about:
                note = QtWidgets.QLabel(about)
                note.setWordWrap(True)
                note.setStyleSheet("color:#555;")
                form.addRow(note)
            for s in specs:
                if s.kind == "choice":
                    row = ChoiceRow(s.choices)
                else:
                    lo, hi = spans.get(s.name, (s.lo, s.hi))
                    row = ParamRow(s.kind, lo, hi, decimals=3 if (hi - lo) < 2 else 1)
                tip = explanation(s)
                row.setToolTip(tip)
                text = (getattr(s, "label", "") or s.name.replace("_", " ")) + (f" ({s.unit})" if s.unit else "")
                label = QtWidgets.QLabel(text)
                label.setToolTip(tip)
                form.addRow(label, row)
                for w in (label, row):
                    self._tips[w] = tip
                    w.installEventFilter(self)
                row.valueChanged.connect(lambda v, n=s.name: self.changed.emit(n, v))
                self.rows[s.name] = row
                self.labels[s.name] = label
                self._forms[s.name] = form
            self.boxes[title] = box
            lay.addWidget(box)
        lay.addStretch(1)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Type.Enter and obj in self._tips:
            self.explained.emit(self._tips[obj])
        return False

    def set_hidden(self, names, hidden: bool = True) -> None:
        """Hide (or show again) the rows of these parameters; a group with no row left is hidden too."""
        for n in names:
            if n in self.rows:
                self._forms[n].setRowVisible(self.rows[n], not hidden)
        for box in self.boxes.values():
            rows = [n for n, f in self._forms.items() if f.parentWidget() is box]
            box.setVisible(any(self._forms[n].isRowVisible(self.rows[n]) for n in rows) if rows else True)

    def is_hidden(self, name: str) -> bool:
        return not self._forms[name].isRowVisible(self.rows[name])

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
