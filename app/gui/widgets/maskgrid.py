"""A grid of thumbnails, one per mask: the individual masks of a frame side by side.

Each thumbnail is the whole frame, dimmed, with one mask in its colour
(thickened so a thin line stays visible when scaled down), and a caption:
the dislocation id, and what post-processing did (merged duplicates, a
warning when the mask probably holds more than one dislocation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from scipy import ndimage

from .overlay import qimage_from_rgb

THUMB_PX = 116
WARN_COLOUR = QtGui.QColor(200, 40, 40)


@dataclass(frozen=True)
class Tile:
    """One thumbnail: a mask, its colour, caption and tooltip; ``flagged`` draws a red frame."""

    mask: np.ndarray
    colour: tuple[int, int, int]
    caption: str
    tooltip: str = ""
    flagged: bool = False
    dim: bool = False  # an empty or dropped raw output: greyed


def thumbnail(image: np.ndarray, mask: np.ndarray, colour, size: int = THUMB_PX, flagged: bool = False,
              dim: bool = False) -> QtGui.QPixmap:
    """The frame (dimmed gray) with ``mask`` in ``colour``, scaled to ``size`` px on its long side."""
    h, w = mask.shape
    step = max(1, int(max(h, w) // size))
    img = np.asarray(image, np.float32)[::step, ::step]
    m = mask[::step, ::step] if step == 1 else ndimage.maximum_filter(mask, size=step)[::step, ::step]
    lo, hi = np.percentile(img, [1, 99]) if img.size else (0.0, 1.0)
    g = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) * (0.35 if not dim else 0.2) + 0.1
    rgb = np.repeat((g * 255)[..., None], 3, axis=2)
    if m.any():
        rgb[m] = np.asarray(colour, np.float32) * (0.5 if dim else 1.0)
    pm = QtGui.QPixmap.fromImage(qimage_from_rgb(rgb.astype(np.uint8)))
    pm = pm.scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                   QtCore.Qt.TransformationMode.SmoothTransformation)
    if flagged:
        p = QtGui.QPainter(pm)
        p.setPen(QtGui.QPen(WARN_COLOUR, 4))
        p.drawRect(1, 1, pm.width() - 3, pm.height() - 3)
        p.end()
    return pm


class MaskGrid(QtWidgets.QListWidget):
    """Thumbnails of masks in a wrapping grid; clicking one emits ``picked(index)``."""

    picked = QtCore.Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.setMovement(QtWidgets.QListView.Movement.Static)
        self.setIconSize(QtCore.QSize(THUMB_PX, THUMB_PX))
        lines = 2 * self.fontMetrics().lineSpacing()  # captions have two lines: id, then what happened
        self.setGridSize(QtCore.QSize(THUMB_PX + 16, THUMB_PX + lines + 12))
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.currentRowChanged.connect(self._on_row)
        self._block = False

    def set_tiles(self, image: Optional[np.ndarray], tiles: Sequence[Tile]) -> None:
        self._block = True
        self.clear()
        if image is not None:
            for t in tiles:
                pm = thumbnail(image, t.mask, t.colour, flagged=t.flagged, dim=t.dim)
                icon = QtGui.QIcon(pm)
                icon.addPixmap(pm, QtGui.QIcon.Mode.Selected)  # no selection tint: it hides the mask
                it = QtWidgets.QListWidgetItem(icon, t.caption)
                it.setToolTip(t.tooltip or t.caption)
                it.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop)
                if t.flagged:
                    it.setForeground(QtGui.QBrush(WARN_COLOUR))
                if t.dim:
                    it.setForeground(QtGui.QBrush(QtGui.QColor(130, 130, 130)))
                self.addItem(it)
        self._block = False

    def captions(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def select(self, i: int) -> None:
        self._block = True
        self.setCurrentRow(i if 0 <= i < self.count() else -1)
        self._block = False

    def _on_row(self, row: int) -> None:
        if not self._block:
            self.picked.emit(row)
