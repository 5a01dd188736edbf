"""The "Scale and frame rate" dialog: the frames' pixel size and frame rate, typed or measured on a frame.

Values come from the file's metadata when it has them; the user can
override both (saved in project.json through
:meth:`app.gui.context.AppContext.set_calibration`), or draw a line along a
feature of known length (a scale bar burnt into the frame, a known lattice
spacing) and give its length, as Fiji's "Set Scale" does.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from core.analysis.units import LENGTH_UNITS, pixel_size_from_line
from core.errors import DislocError

from .widgets.imagepane import ImagePane

UNSET = "as the file says"


def _spin(suffix: str, maximum: float, decimals: int, tip: str) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setSpecialValueText(UNSET)  # 0 reads "as the file says": no override
    box.setToolTip(tip)
    return box


class CalibrationDialog(QtWidgets.QDialog):
    """Pixel size (nm/px) and frame rate (frames/s) of the project's frames.

    Parameters
    ----------
    ctx : AppContext
    image : ndarray, optional
        A frame to measure on (the one on screen); default: frame 0.
    """

    def __init__(self, ctx, image: Optional[np.ndarray] = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Scale and frame rate")
        p = ctx.project
        file_px, file_fps = ctx.file_calibration()
        self.file_px, self.file_fps = file_px, file_fps
        self.pixel = _spin(" nm/px", 1e6, 5, "Size of one pixel in nm: every length in the app, its tables, plots "
                           "and exports is then also in nm")
        self.fps = _spin(" frames/s", 1e6, 4, "Frames per second of the video: times and speeds are then in s")
        self.pixel.setValue(p.pixel_size_nm or 0.0 if p is not None else 0.0)
        self.fps.setValue(p.fps or 0.0 if p is not None else 0.0)
        said = [f"pixel size {file_px:.5g} nm/px" if file_px else "no pixel size",
                f"frame rate {file_fps:.5g} frames/s" if file_fps else "no frame rate"]
        note = QtWidgets.QLabel(f"The file gives {said[0]} and {said[1]}. A value set here wins; 0 goes back to "
                                "the file's.")
        note.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Pixel size", self.pixel)
        form.addRow("Frame rate", self.fps)

        # Measuring: a line on the frame and its known length.
        self.pane = ImagePane("Drag the red line's ends onto a feature of known length")
        self.pane.setMinimumSize(360, 260)
        if image is None:
            src = ctx.frames()
            image = src[0] if src is not None and len(src) else None
        self.roi: Optional[pg.LineSegmentROI] = None
        if image is not None:
            self.pane.set_image(image)
            h, w = image.shape
            self.roi = pg.LineSegmentROI([[w * 0.25, h * 0.85], [w * 0.75, h * 0.85]],
                                         pen=pg.mkPen((255, 60, 60), width=2))
            self.roi.setZValue(20)
            self.pane.vb.addItem(self.roi)
            self.roi.sigRegionChanged.connect(self._show_line)
        self.known = QtWidgets.QDoubleSpinBox()
        self.known.setRange(0.0, 1e7)
        self.known.setDecimals(3)
        self.known.setValue(100.0)
        self.known.setToolTip("The true length of the feature the line covers")
        self.unit = QtWidgets.QComboBox()
        self.unit.addItems(list(LENGTH_UNITS))
        self.line_label = QtWidgets.QLabel("")
        self.measure_btn = QtWidgets.QPushButton("Set pixel size from the line")
        self.measure_btn.setToolTip("Pixel size = known length / line length in px")
        self.measure_btn.clicked.connect(self.apply_line)
        self.measure_btn.setEnabled(self.roi is not None)
        mrow = QtWidgets.QHBoxLayout()
        mrow.addWidget(QtWidgets.QLabel("The line is"))
        mrow.addWidget(self.known)
        mrow.addWidget(self.unit)
        mrow.addWidget(self.measure_btn)
        mrow.addStretch(1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(self.pane, 1)
        lay.addWidget(self.line_label)
        lay.addLayout(mrow)
        lay.addWidget(buttons)
        self.resize(640, 600)
        self._show_line()

    def line_length_px(self) -> float:
        """Length of the drawn line in image px (0 without a frame)."""
        if self.roi is None:
            return 0.0
        a, b = (self.roi.mapToParent(h["item"].pos()) for h in self.roi.handles)
        return float(math.hypot(b.x() - a.x(), b.y() - a.y()))

    def set_line(self, p0, p1) -> None:
        """Put the line's ends at image px p0, p1 (x, y) (tests; the user drags them)."""
        self.roi.setPos(0, 0)
        self.roi.movePoint(self.roi.handles[0]["item"], QtCore.QPointF(*p0), finish=False)
        self.roi.movePoint(self.roi.handles[1]["item"], QtCore.QPointF(*p1))

    def _show_line(self) -> None:
        self.line_label.setText(f"Line: {self.line_length_px():.1f} px" if self.roi is not None else
                                "No frame to measure on: choose the project's frames first (File > Set frames).")

    def apply_line(self) -> Optional[float]:
        """Pixel size from the line and its known length, put in the box (saved on OK)."""
        try:
            px = pixel_size_from_line(self.line_length_px(), self.known.value(), self.unit.currentText())
        except DislocError as e:
            self.line_label.setText(f"<span style='color:#b00'>{e}</span>")
            return None
        self.pixel.setValue(px)
        self.line_label.setText(f"Line: {self.line_length_px():.1f} px = {self.known.value():g} "
                                f"{self.unit.currentText()}: <b>{px:.5g} nm/px</b>. Press OK to keep it.")
        return px

    def accept(self) -> None:
        px, fps = self.pixel.value() or None, self.fps.value() or None
        try:
            units = self.ctx.set_calibration(px, fps)
        except DislocError as e:
            self.ctx.error(str(e))
            return
        self.ctx.info(f"scale and frame rate of the project's frames: {units.describe()}")
        super().accept()
