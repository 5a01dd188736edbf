"""Synthetic and real image side by side, with grey-value histograms and line profiles.

The paper's Fig. 14 compares the intensity across a dislocation in a real
and a synthetic image; here the user draws one line on each image
(pyqtgraph LineSegmentROI) and both profiles are plotted together, next to
both grey-value histograms.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from skimage.measure import profile_line

from .imagepane import ImagePane

SYNTH_PEN = (31, 119, 180)
REAL_PEN = (255, 127, 14)


def line_profile(img: np.ndarray, p0, p1, linewidth: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Grey values along the line p0 -> p1 ((x, y) px), averaged over ``linewidth`` px across.

    Returns (distance from p0 in px, values).
    """
    prof = profile_line(img, (p0[1], p0[0]), (p1[1], p1[0]), linewidth=linewidth, order=1,
                        mode="reflect", reduce_func=np.mean)
    n = len(prof)
    length = float(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))
    return np.linspace(0.0, length, n), prof


def grey_histogram(img: np.ndarray, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(bin edges, density) of grey values in [0, 1]."""
    h, edges = np.histogram(np.asarray(img, np.float32).ravel(), bins=bins, range=(0.0, 1.0), density=True)
    return edges, h


class CompareView(QtWidgets.QWidget):
    """Two image panes (synthetic, real) over a histogram plot and a profile plot.

    The synthetic pane also carries the mask overlay (RGBA image) and the
    slip traces (dashed lines); :meth:`set_overlay_visible` and
    :meth:`set_traces_visible` toggle them.
    """

    pixelHovered = QtCore.Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.synth = ImagePane("Synthetic")
        self.real = ImagePane("Real frame")
        for p in (self.synth, self.real):
            p.pixelHovered.connect(self.pixelHovered)
        self.overlay = pg.ImageItem()
        self.overlay.setZValue(5)
        self.synth.vb.addItem(self.overlay)
        self.trace_items: list[pg.PlotCurveItem] = []
        self._traces_visible = False
        self.rois: dict[str, pg.LineSegmentROI] = {}
        # The titles name the colours: a legend inside the plot would cover the curves.
        key = (f"<span style='color:rgb{SYNTH_PEN}'>■ synthetic</span>&nbsp;&nbsp;"
               f"<span style='color:rgb{REAL_PEN}'>■ real</span>")
        self.hist_plot = pg.PlotWidget(title=f"Grey-value histogram&nbsp;&nbsp;{key}")
        self.hist_plot.setLabel("bottom", "grey value")
        self.hist_plot.setLabel("left", "density")
        self.hist_curves = {
            "synth": self.hist_plot.plot([0, 1], [0], stepMode="center", pen=pg.mkPen(SYNTH_PEN, width=2),
                                         name="synthetic"),
            "real": self.hist_plot.plot([0, 1], [0], stepMode="center", pen=pg.mkPen(REAL_PEN, width=2),
                                        name="real"),
        }
        self.prof_plot = pg.PlotWidget(title=f"Intensity along the red lines&nbsp;&nbsp;{key}")
        self.prof_plot.setLabel("bottom", "distance along line (px)")
        self.prof_plot.setLabel("left", "grey value")
        for w in (self.prof_plot, self.hist_plot):
            w.getAxis("left").enableAutoSIPrefix(False)  # grey values in [0, 1], not "x0.001"
        self.prof_curves = {
            "synth": self.prof_plot.plot([], [], pen=pg.mkPen(SYNTH_PEN, width=2), name="synthetic"),
            "real": self.prof_plot.plot([], [], pen=pg.mkPen(REAL_PEN, width=2), name="real"),
        }
        for w in (self.hist_plot, self.prof_plot):
            w.setMinimumHeight(140)
        images = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        images.addWidget(self.synth)
        images.addWidget(self.real)
        plots = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        plots.addWidget(self.hist_plot)
        plots.addWidget(self.prof_plot)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(images)
        split.addWidget(plots)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    # -- images -----------------------------------------------------------------------------
    def set_synthetic(self, img: np.ndarray, overlay_rgba: Optional[np.ndarray] = None, traces=()) -> None:
        """Show a rendered image (H, W) in [0, 1], its mask overlay and slip trace segments."""
        self.synth.set_image(img, levels=(0.0, 1.0))
        self.overlay.setImage(overlay_rgba if overlay_rgba is not None else np.zeros((1, 1, 4), np.uint8),
                              autoLevels=False, levels=(0, 255))
        self._set_traces(traces)
        self._ensure_roi("synth", self.synth, img.shape)
        self.update_plots("synth")

    def set_real(self, img: Optional[np.ndarray], title: str = "Real frame") -> None:
        self.real.set_title(title)
        if img is None:
            self.real.clear_image()
            self.hist_curves["real"].setData([0, 1], [0])
            self.prof_curves["real"].setData([], [])
            return
        # Same grey mapping as the synthetic image, so the comparison by eye is fair.
        self.real.set_image(img, levels=(0.0, 1.0))
        self._ensure_roi("real", self.real, img.shape)
        self.update_plots("real")

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay.setVisible(on)

    def set_traces_visible(self, on: bool) -> None:
        self._traces_visible = on
        for it in self.trace_items:
            it.setVisible(on)

    def _set_traces(self, traces) -> None:
        """``traces``: iterable of ((x0, y0), (x1, y1)) segments in px."""
        traces = list(traces)
        while len(self.trace_items) < len(traces):
            it = pg.PlotCurveItem(pen=pg.mkPen((0, 230, 255), width=2, style=QtCore.Qt.PenStyle.DashLine))
            it.setZValue(6)
            self.synth.vb.addItem(it)
            self.trace_items.append(it)
        for k, it in enumerate(self.trace_items):
            if k < len(traces):
                (x0, y0), (x1, y1) = traces[k]
                it.setData([x0, x1], [y0, y1])
                it.setVisible(self._traces_visible)
            else:
                it.setVisible(False)

    # -- profile lines ---------------------------------------------------------------------
    def _ensure_roi(self, key: str, pane: ImagePane, shape) -> None:
        if key in self.rois:
            return
        h, w = shape
        roi = pg.LineSegmentROI([[w * 0.3, h * 0.5], [w * 0.7, h * 0.5]], pen=pg.mkPen((255, 60, 60), width=2))
        roi.setZValue(10)
        pane.vb.addItem(roi)
        roi.sigRegionChanged.connect(lambda *_: self.update_plots(key))
        self.rois[key] = roi

    def line_ends(self, key: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """End points ((x0, y0), (x1, y1)) in image px of the profile line on one image."""
        roi = self.rois[key]
        a, b = (roi.mapToParent(h["item"].pos()) for h in roi.handles)
        return (a.x(), a.y()), (b.x(), b.y())

    def set_line(self, key: str, p0, p1) -> None:
        """Move a profile line (image px); used by the twin button and tests."""
        roi = self.rois[key]
        roi.setPos(0, 0)
        roi.movePoint(roi.handles[0]["item"], QtCore.QPointF(*p0), finish=False)
        roi.movePoint(roi.handles[1]["item"], QtCore.QPointF(*p1))

    def update_plots(self, key: str) -> None:
        pane = self.synth if key == "synth" else self.real
        img = pane.data
        if img is None:
            return
        edges, h = grey_histogram(img)
        self.hist_curves[key].setData(edges, h)
        if key in self.rois:
            p0, p1 = self.line_ends(key)
            if np.hypot(p1[0] - p0[0], p1[1] - p0[1]) >= 1:
                d, v = line_profile(img, p0, p1)
                self.prof_curves[key].setData(pane.units.length(d), v)

    def set_units(self, units) -> None:
        """Scale bars on both images and the profile's distance axis in nm when the pixel size is known.

        The synthetic image is meant to be a twin of the frames, at their scale.
        """
        for pane in (self.synth, self.real):
            pane.set_units(units)
        self.prof_plot.setLabel("bottom", f"distance along line ({units.length_unit})")
        for key in ("synth", "real"):
            self.update_plots(key)

    def profile(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The plotted profile (distance along the line in px, or nm when known; values) of one image."""
        x, y = self.prof_curves[key].getData()
        return (np.asarray(x) if x is not None else np.zeros(0)), (np.asarray(y) if y is not None else np.zeros(0))
