"""A scale bar in the corner of an image view: a round length in nm (or px while the pixel size is unknown)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from core.analysis.units import Units, fmt_scale, nice_length

TARGET_FRACTION = 0.2  # the bar spans about this much of the view's width
MARGIN_PX = 10


class ScaleBar(pg.GraphicsObject):
    """A white bar with its length above it, on a dark plate, at the bottom right of the image in a ViewBox.

    It is drawn in screen pixels (parented to the ViewBox, not to its
    image), so it keeps its size when zooming; its length is re-chosen on
    every zoom from :func:`core.analysis.units.nice_length`. It sits in the
    corner of what is seen of the image (``image``), not of the black around it.
    """

    def __init__(self, vb: pg.ViewBox, image: pg.ImageItem) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.vb = vb
        self.image = image
        self.units = Units()
        self.text = ""
        self.length_px = 0.0  # image px the bar spans
        self._bar_screen = 0.0
        self.setParentItem(vb)
        self.setZValue(50)
        self._font = QtGui.QFont()
        self._font.setPointSizeF(9.0)
        vb.sigRangeChanged.connect(self.update_bar)
        vb.sigResized.connect(self.update_bar)

    def set_units(self, units: Units) -> None:
        self.units = units
        self.update_bar()

    def update_bar(self, *_args) -> None:
        """Choose the bar's length for the current zoom and put it in the corner."""
        r = self.vb.viewPixelSize()  # image px per screen px
        rect = self.vb.boundingRect()
        if r is None or r[0] <= 0 or rect.width() < 40:
            self.setVisible(False)
            return
        px_per_screen = float(r[0])
        target_px = TARGET_FRACTION * rect.width() * px_per_screen
        length = nice_length(self.units.length(target_px))
        self.length_px = length / self.units.pixel_size_nm if self.units.pixel_size_nm else length
        self._bar_screen = self.length_px / px_per_screen
        self.text = fmt_scale(length, self.units.length_unit)
        self.prepareGeometryChange()
        seen = rect
        if self.image.width() and self.image.height():  # the image as it lies in the view box
            img = self.vb.mapFromViewToItem(self.vb, self.image.mapRectToView(self.image.boundingRect())).boundingRect()
            seen = rect.intersected(img) if rect.intersects(img) else rect
        self.setPos(seen.right() - MARGIN_PX, seen.bottom() - MARGIN_PX)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        w = max(self._bar_screen, QtGui.QFontMetricsF(self._font).horizontalAdvance(self.text)) + 12
        return QtCore.QRectF(-w, -30, w, 30)

    def paint(self, p: QtGui.QPainter, *_args) -> None:
        if not self.text:
            return
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 150))
        p.drawRoundedRect(self.boundingRect(), 3, 3)
        w = self._bar_screen
        p.setBrush(QtGui.QColor(255, 255, 255))
        p.drawRect(QtCore.QRectF(-6 - w, -10, w, 4))
        p.setPen(QtGui.QColor(255, 255, 255))
        p.setFont(self._font)
        p.drawText(QtCore.QRectF(-6 - max(w, 80), -28, max(w, 80), 16),
                   int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter), self.text)


def overlay_buttons(parent: QtWidgets.QWidget, buttons) -> QtWidgets.QWidget:
    """A small row of tool buttons floating over a widget's top right corner (the caller places it)."""
    box = QtWidgets.QWidget(parent)
    lay = QtWidgets.QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    for b in buttons:
        b.setAutoRaise(False)
        b.setStyleSheet("QToolButton { background: rgba(40,40,40,190); color: white; border: 1px solid #777;"
                        " border-radius: 3px; padding: 1px 5px; }"
                        "QToolButton:checked { background: rgba(70,110,170,220); }")
        lay.addWidget(b)
    box.adjustSize()
    return box
