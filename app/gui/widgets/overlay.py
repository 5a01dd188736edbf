"""Dislocations drawn over an image pane: coloured masks, splines, ids; click to pick one.

The overlay displays data it does not own: the panel hands it masks,
curves, ids and colours and gets back ``picked(k)`` when the user clicks a
dislocation. Colours come from :mod:`core.colors`, so the picture matches the
overlay files written by core.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from .imagepane import ImagePane

PICK_PX = 10.0  # how close (screen px) a click must be to a curve to pick it
MASK_ALPHA = 120


def rgba_overlay(masks: np.ndarray, colours: Sequence[tuple[int, int, int]], alpha: int = MASK_ALPHA) -> np.ndarray:
    """(H, W, 4) uint8: each mask filled with its colour (later masks on top), transparent elsewhere."""
    k, h, w = masks.shape
    out = np.zeros((h, w, 4), np.uint8)
    for i in range(k):
        out[masks[i]] = (*colours[i], alpha)
    return out


class DislocationOverlay(QtCore.QObject):
    """Masks, splines and id labels of one frame on an :class:`ImagePane`.

    Signals
    -------
    picked(int)
        Index (into the lists given to :meth:`set_content`) of the clicked
        dislocation, or -1 for a click away from all of them.
    """

    picked = QtCore.Signal(int)

    def __init__(self, pane: ImagePane, parent=None) -> None:
        super().__init__(parent)
        self.pane = pane
        self.mask_item = pg.ImageItem()
        self.mask_item.setZValue(5)
        pane.vb.addItem(self.mask_item)
        self.points_item = pg.ScatterPlotItem(size=6, pen=pg.mkPen("k", width=1))
        self.points_item.setZValue(12)
        pane.vb.addItem(self.points_item)
        self.curves: list[pg.PlotCurveItem] = []
        self.labels: list[pg.TextItem] = []
        self._curves: list[Optional[np.ndarray]] = []
        self._masks: Optional[np.ndarray] = None
        self._colours: list[tuple[int, int, int]] = []
        self._texts: list[str] = []
        self.selected = -1
        self.show_masks = True
        self.show_curves = True
        pane.scene().sigMouseClicked.connect(self._on_click)
        pane.vb.sigRangeChanged.connect(lambda *_: self._place_labels())  # zoomed: room changes

    # -- content --------------------------------------------------------------------
    def set_content(self, masks: Optional[np.ndarray], curves: Sequence[Optional[np.ndarray]],
                    labels: Sequence[str], colours: Sequence[tuple[int, int, int]], flagged: Sequence[bool] = ()) -> None:
        """Show dislocations: masks (K, H, W) bool or None, curves (n, 2) px or None, label texts, RGB colours."""
        self._masks = masks
        self._curves = list(curves)
        self._colours = [tuple(int(v) for v in c) for c in colours]
        self._texts = list(labels)
        self.selected = -1
        for it in self.curves + self.labels:
            self.pane.vb.removeItem(it)
        self.curves, self.labels = [], []
        flagged = list(flagged) + [False] * (len(self._curves) - len(flagged))
        for k, c in enumerate(self._curves):
            col = self._colours[k]
            item = pg.PlotCurveItem(pen=pg.mkPen(col, width=1.5))
            item.setZValue(10)
            if c is not None:
                item.setData(c[:, 0], c[:, 1])
            self.pane.vb.addItem(item)
            self.curves.append(item)
            text = self._texts[k] + (" ⚠" if flagged[k] else "")
            lab = pg.TextItem(text, color=(255, 255, 255), fill=pg.mkBrush(*col, 190), anchor=(0.5, 1.2))
            lab.setZValue(15)
            self.pane.vb.addItem(lab)
            self.labels.append(lab)
        self._place_labels()
        self._draw_masks()
        self._draw_selection()

    def clear(self) -> None:
        self.set_content(None, [], [], [])

    def _label_spots(self, k: int) -> list[tuple[float, float]]:
        """Where dislocation k's id may go, best first: its upper end, its lower end, points along it."""
        c = self._curves[k]
        if c is not None and len(c):
            upper, lower = (c[0], c[-1]) if c[0, 1] <= c[-1, 1] else (c[-1], c[0])  # ids of a pileup sit in a row
            mids = [c[int(f * (len(c) - 1))] for f in (0.5, 0.25, 0.75)]
            return [(float(p[0]), float(p[1])) for p in [upper, lower, *mids]]
        if self._masks is not None and k < len(self._masks) and self._masks[k].any():
            ys, xs = np.nonzero(self._masks[k])
            return [(float(xs.mean()), float(ys.min())), (float(xs.mean()), float(ys.max()))]
        return []

    def _place_labels(self) -> None:
        """Put each id at the first of its spots that no placed id covers (on screen), so ids never pile up.

        When every spot is taken (lines closer than a label), the id sits at
        its first spot, over the others.
        """
        scale = self._px_per_screen_px()  # image px per screen px
        placed: list[tuple[float, float, float]] = []  # screen x, y and half width of placed labels
        for k, lab in enumerate(self.labels):
            spots = self._label_spots(k)
            if not spots:
                lab.setVisible(False)
                continue
            half_w = (8.0 + 7.5 * len(lab.toPlainText())) / 2.0
            best = spots[0]
            for x, y in spots:
                sx, sy = x / scale, y / scale
                if all(abs(sx - px) >= half_w + pw + 2 or abs(sy - py) >= 20 for px, py, pw in placed):
                    best = (x, y)
                    break
            placed.append((best[0] / scale, best[1] / scale, half_w))
            lab.setPos(*best)
            lab.setVisible(True)

    def set_visible_parts(self, masks: Optional[bool] = None, curves: Optional[bool] = None) -> None:
        if masks is not None:
            self.show_masks = masks
        if curves is not None:
            self.show_curves = curves
        self._draw_masks()
        for it in self.curves:
            it.setVisible(self.show_curves)

    def _draw_masks(self) -> None:
        m = self._masks
        if not self.show_masks or m is None or len(m) == 0:
            self.mask_item.clear()
            self.mask_item.setVisible(False)
            return
        self.mask_item.setImage(rgba_overlay(m, self._colours[:len(m)]), autoLevels=False, levels=(0, 255))
        self.mask_item.setVisible(True)

    # -- selection --------------------------------------------------------------------
    def select(self, k: int) -> None:
        """Highlight dislocation ``k`` (-1: none): thicker line and its spline points."""
        self.selected = k if 0 <= k < len(self._curves) else -1
        self._draw_selection()

    def _draw_selection(self) -> None:
        for j, it in enumerate(self.curves):
            col = self._colours[j]
            it.setPen(pg.mkPen(col, width=3.5 if j == self.selected else 1.5))
            it.setVisible(self.show_curves or j == self.selected)
        k = self.selected
        c = self._curves[k] if 0 <= k < len(self._curves) else None
        if c is None:
            self.points_item.clear()
            return
        self.points_item.setData(c[:, 0], c[:, 1], brush=pg.mkBrush(*self._colours[k]))

    def pick(self, x: float, y: float) -> int:
        """The dislocation under image point (x, y) px: inside a mask, else the nearest curve within reach."""
        best, best_d = -1, np.inf
        reach = PICK_PX * self._px_per_screen_px()
        for k, c in enumerate(self._curves):
            if c is None or len(c) < 2:
                continue
            a, b = c[:-1], c[1:]
            ab = b - a
            L2 = np.maximum((ab ** 2).sum(1), 1e-12)
            t = np.clip(((np.array([x, y]) - a) * ab).sum(1) / L2, 0.0, 1.0)
            d = float(np.hypot(*(a + t[:, None] * ab - (x, y)).T).min())
            if d < best_d:
                best, best_d = k, d
        if best_d <= reach:
            return best
        m = self._masks
        if m is not None and len(m):
            xi, yi = int(round(x)), int(round(y))
            if 0 <= yi < m.shape[1] and 0 <= xi < m.shape[2]:
                hits = np.nonzero(m[:, yi, xi])[0]
                if hits.size:
                    return int(hits[-1])  # the one drawn on top
        return -1

    def _px_per_screen_px(self) -> float:
        r = self.pane.vb.viewPixelSize()
        return float(max(r[0], r[1])) if r is not None else 1.0

    def _on_click(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or ev.double():
            return
        if not self.pane.vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = self.pane.vb.mapSceneToView(ev.scenePos())
        k = self.pick(p.x(), p.y())
        self.select(k)
        self.picked.emit(k)


def qimage_from_rgb(rgb: np.ndarray) -> QtGui.QImage:
    """A QImage (own copy) from an (H, W, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = rgb.shape
    return QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()
