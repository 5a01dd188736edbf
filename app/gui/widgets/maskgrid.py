"""A grid of thumbnails, one per mask: the individual masks of a frame side by side.

Each thumbnail is the frame around one mask, zoomed to the mask's
bounding box (a mask is a few pixels wide; in a whole-frame thumbnail it
would be a speck), the mask in its colour over the grey image, and a
caption: the dislocation id and what post-processing did (merged
duplicates, a warning when the mask probably holds more than one
dislocation). The grid's cells grow to hold the longest caption.
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


def mask_box(mask: np.ndarray, margin: float = 0.2, min_side: int = 24) -> tuple[int, int, int, int]:
    """A square (y0, y1, x0, x1) around a mask's pixels with ``margin`` of its side around them, in the frame."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return 0, h, 0, w
    cy, cx = (ys.min() + ys.max()) / 2.0, (xs.min() + xs.max()) / 2.0
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1, min_side) * (1 + 2 * margin)
    side = int(min(side, h, w))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    return y0, y0 + side, x0, x0 + side


def thumbnail(image: np.ndarray, mask: np.ndarray, colour, size: int = THUMB_PX, flagged: bool = False,
              dim: bool = False) -> QtGui.QPixmap:
    """The frame around ``mask`` (zoomed to its box), the mask in ``colour``, ``size`` px on its long side."""
    y0, y1, x0, x1 = mask_box(mask)
    crop_img, crop = np.asarray(image, np.float32)[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    step = max(1, int(max(crop.shape) // size))
    img = crop_img[::step, ::step]
    m = crop[::step, ::step] if step == 1 else ndimage.maximum_filter(crop, size=step)[::step, ::step]
    lo, hi = np.percentile(img, [1, 99]) if img.size else (0.0, 1.0)
    g = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) * (0.7 if not dim else 0.35) + 0.1
    rgb = np.repeat((g * 255)[..., None], 3, axis=2)
    if m.any():  # the mask in its colour, the line beneath still visible
        col = np.asarray(colour, np.float32) * (0.5 if dim else 1.0)
        rgb[m] = 0.35 * rgb[m] + 0.65 * col
    pm = QtGui.QPixmap.fromImage(qimage_from_rgb(rgb.astype(np.uint8)))
    # a zoomed-in mask stays crisp (nearest); a large crop shrinks smoothly
    mode = (QtCore.Qt.TransformationMode.FastTransformation if max(rgb.shape[:2]) < size
            else QtCore.Qt.TransformationMode.SmoothTransformation)
    pm = pm.scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio, mode)
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
        self._fit_captions(["#1\nmerged"])
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.currentRowChanged.connect(self._on_row)
        self._block = False

    def _fit_captions(self, captions: Sequence[str]) -> None:
        """Cells tall enough for the longest caption as it wraps, so none is cut."""
        width = THUMB_PX + 16
        fm = self.fontMetrics()
        flags = int(QtCore.Qt.TextFlag.TextWordWrap | QtCore.Qt.AlignmentFlag.AlignHCenter)
        text_h = max((fm.boundingRect(QtCore.QRect(0, 0, width - 8, 1000), flags, c).height() for c in captions),
                     default=fm.lineSpacing())
        self.setGridSize(QtCore.QSize(width, THUMB_PX + text_h + 14))

    def set_tiles(self, image: Optional[np.ndarray], tiles: Sequence[Tile]) -> None:
        self._block = True
        self.clear()
        self._fit_captions([t.caption for t in tiles] or ["#1"])
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
