"""An image in a pannable, zoomable view with a scale bar and contrast controls.

Every image view of the app is one of these: a scale bar in nm (px while
the pixel size is unknown), the pixel under the cursor in px and nm, and
in the corner "Auto" (contrast from the 0.5-99.5 % grey values) and
"Levels" (a histogram with draggable black and white points).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from core.analysis.units import Units

from .scalebar import ScaleBar, overlay_buttons


def percentile_levels(img: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> tuple[float, float]:
    """Contrast limits that ignore the darkest and brightest 0.5 % (a few hot pixels)."""
    a, b = np.percentile(img[:: max(1, img.shape[0] // 256), :: max(1, img.shape[1] // 256)], [lo, hi])
    if b <= a:
        b = a + 1e-6
    return float(a), float(b)


class ImagePane(pg.GraphicsLayoutWidget):
    """A gray image (H, W) with y pointing down, square pixels, a title and a scale bar.

    Parameters
    ----------
    histogram : bool
        Show the levels histogram from the start (the "Levels" button toggles it).

    Signals
    -------
    pixelHovered(str)
        ``"x 12  y 40  value 0.513"`` (and the position in nm when the pixel
        size is known) for the pixel under the cursor ("" outside).
    """

    pixelHovered = QtCore.Signal(str)

    def __init__(self, title: str = "", histogram: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.title = self.addLabel(title, row=0, col=0, size="10pt") if title else None
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=True)
        self.vb.setDefaultPadding(0.01)
        self.addItem(self.vb, row=1, col=0)
        self.image = pg.ImageItem()
        self.vb.addItem(self.image)
        self.hist = pg.HistogramLUTItem(image=self.image, orientation="vertical")
        self._hist_in_layout = False
        self.units = Units()
        self.scale_bar = ScaleBar(self.vb, self.image)
        self.scale_bar.setVisible(False)
        self.auto_btn = QtWidgets.QToolButton(text="Auto")
        self.auto_btn.setToolTip("Auto contrast: stretch the 0.5-99.5 % grey values to black and white")
        self.auto_btn.clicked.connect(self.auto_contrast)
        self.levels_btn = QtWidgets.QToolButton(text="Levels")
        self.levels_btn.setCheckable(True)
        self.levels_btn.setToolTip("Show the grey-value histogram: drag its black and white points to set the contrast")
        self.levels_btn.toggled.connect(self.show_levels)
        self._buttons = overlay_buttons(self, [self.auto_btn, self.levels_btn])
        self._data: Optional[np.ndarray] = None
        self.show_levels(histogram)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if hasattr(self, "_buttons"):  # pyqtgraph resizes once before __init__ has made them
            # bottom left: the title is at the top, the scale bar at the bottom right
            self._buttons.move(6, self.height() - self._buttons.height() - 6)

    def show_levels(self, on: bool) -> None:
        """Show or hide the levels histogram beside the image (out of the layout when hidden: no room taken)."""
        with QtCore.QSignalBlocker(self.levels_btn):
            self.levels_btn.setChecked(on)
        if on and not self._hist_in_layout:
            self.addItem(self.hist, row=1, col=1)
        elif not on and self._hist_in_layout:
            self.ci.removeItem(self.hist)
        self._hist_in_layout = on
        self.hist.setVisible(on)
        if on and self._data is not None:
            self._smooth_histogram(self._data)

    @property
    def levels_shown(self) -> bool:
        return self._hist_in_layout

    def set_units(self, units: Units) -> None:
        """Pixel size and frame rate for the scale bar and the cursor's position in nm."""
        self.units = units
        self.scale_bar.set_units(units)

    @property
    def data(self) -> Optional[np.ndarray]:
        return self._data

    def set_title(self, text: str) -> None:
        if self.title is not None:
            self.title.setText(text, size="10pt")

    def set_image(self, img: np.ndarray, levels: Optional[tuple[float, float]] = None, autorange: bool = False) -> None:
        """Show ``img``; keep the user's contrast unless ``levels`` is given."""
        first = self._data is None or self._data.shape != img.shape
        self._data = img
        if levels is None and first:
            levels = percentile_levels(img)
        if levels is None:
            self.image.setImage(img, autoLevels=False)
        else:
            self.image.setImage(img, autoLevels=False, levels=levels)
            self.hist.setLevels(*levels)
        if self.levels_shown:
            self._smooth_histogram(img)
        if first or autorange:
            self.vb.autoRange(padding=0.01)
        self.scale_bar.setVisible(True)
        self.scale_bar.update_bar()

    def clear_image(self) -> None:
        """Show nothing (no image, no scale bar)."""
        self.image.clear()
        self._data = None
        self.scale_bar.setVisible(False)

    def _smooth_histogram(self, img: np.ndarray) -> None:
        """Replace pyqtgraph's automatic histogram: its bins comb 8-bit data into spikes."""
        step = max(1, int(np.sqrt(img.size / 250_000)))
        sub = img[::step, ::step]
        levels, counts = np.unique(sub, return_counts=True)
        if len(levels) > 512:  # continuous values: ordinary bins
            counts, edges = np.histogram(sub, bins=128)
            levels = 0.5 * (edges[:-1] + edges[1:])
        self.hist.plot.setData(levels, counts)

    def auto_contrast(self) -> None:
        """Stretch the contrast to the 0.5-99.5 % grey values."""
        if self._data is not None:
            lv = percentile_levels(self._data)
            self.image.setLevels(lv)
            self.hist.setLevels(*lv)

    def view_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Widget (viewport) position of image coordinates (x, y) in px (used by tests and tools)."""
        return self.mapFromScene(self.vb.mapViewToScene(QtCore.QPointF(x, y)))

    def _on_mouse_moved(self, scene_pos) -> None:
        if self._data is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            self.pixelHovered.emit("")
            return
        p = self.vb.mapSceneToView(scene_pos)
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        h, w = self._data.shape[:2]
        if 0 <= x < w and 0 <= y < h:
            nm = (f"  ({self.units.fmt_length(p.x())}, {self.units.fmt_length(p.y())})"
                  if self.units.pixel_size_nm else "")
            self.pixelHovered.emit(f"x {x}  y {y}{nm}  value {float(self._data[y, x]):.3f}")
        else:
            self.pixelHovered.emit("")
