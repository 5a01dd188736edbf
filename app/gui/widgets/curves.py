"""Plots: training curves (live and compared runs), curvature along a spline, pair distance vs frame."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from core.analysis.units import Units
from core.colors import PALETTE

TRAIN_PEN = (31, 119, 180)
TEST_PEN = (255, 127, 14)
METRIC_PEN = (44, 160, 44)
STEP_PEN = (120, 160, 200, 110)
REDRAW_MS = 150  # step losses are redrawn at most this often: each report must stay cheap for the GUI


def side_legend(layout: pg.GraphicsLayoutWidget, row: int, col: int) -> pg.LegendItem:
    """A legend in its own cell of a layout, beside its plot, so it never covers a curve."""
    cell = layout.addLayout(row=row, col=col)
    legend = pg.LegendItem(offset=None)
    cell.addItem(legend, row=0, col=0)
    cell.addLabel("", row=1, col=0)  # takes the rest of the height: the entries stay together at the top
    cell.layout.setRowStretchFactor(1, 100)
    return legend


def _finite(rows: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["epoch"], r[key]) for r in rows
           if isinstance(r.get(key), (int, float)) and not math.isnan(float(r[key]))]
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.asarray(pts, np.float64)
    return a[:, 0], a[:, 1]


class TrainCurves(pg.GraphicsLayoutWidget):
    """Loss (train per step, train and test per epoch) over the test length metric, against epoch.

    Runs chosen for comparison are drawn dashed in their own colours.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.loss = self.addPlot(row=0, col=0, title="Loss (matching Dice; lower is better)")
        self.loss.setLabel("left", "loss")
        self.loss.showGrid(x=True, y=True, alpha=0.25)
        self.loss_legend = side_legend(self, 0, 1)
        self.metric_plot = self.addPlot(row=1, col=0, title="Test length metric (1 = perfect)")
        self.metric_plot.setLabel("left", "metric")
        self.metric_plot.setLabel("bottom", "epoch")
        self.metric_plot.showGrid(x=True, y=True, alpha=0.25)
        self.metric_legend = side_legend(self, 1, 1)
        self.metric_plot.setXLink(self.loss)
        for p in (self.loss, self.metric_plot):
            p.getAxis("left").enableAutoSIPrefix(False)
        self.step_curve = self.loss.plot(pen=pg.mkPen(STEP_PEN, width=1))
        self.train_curve = self.loss.plot(pen=pg.mkPen(TRAIN_PEN, width=2), symbol="o", symbolSize=6,
                                          symbolBrush=TRAIN_PEN)
        self.test_curve = self.loss.plot(pen=pg.mkPen(TEST_PEN, width=2), symbol="s", symbolSize=6,
                                         symbolBrush=TEST_PEN)
        self.metric_curve = self.metric_plot.plot(pen=pg.mkPen(METRIC_PEN, width=2), symbol="o", symbolSize=6,
                                                  symbolBrush=METRIC_PEN)
        for legend, curve, name in ((self.loss_legend, self.step_curve, "train, each step"),
                                    (self.loss_legend, self.train_curve, "train, epoch mean"),
                                    (self.loss_legend, self.test_curve, "test"),
                                    (self.metric_legend, self.metric_curve, "this run")):
            legend.addItem(curve, name)
        self._steps_x: list[float] = []
        self._steps_y: list[float] = []
        self._compare: list[pg.PlotDataItem] = []
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_steps)

    # -- the run being watched -----------------------------------------------------------
    def clear_live(self) -> None:
        self._steps_x, self._steps_y = [], []
        for c in (self.step_curve, self.train_curve, self.test_curve, self.metric_curve):
            c.setData([], [])

    def add_step(self, epoch_float: float, loss: float) -> None:
        """One training step's loss at a fractional epoch (drawn at most every REDRAW_MS)."""
        if math.isfinite(loss):
            self._steps_x.append(epoch_float)
            self._steps_y.append(loss)
        if not self._timer.isActive():
            self._timer.start()

    def _redraw_steps(self) -> None:
        self.step_curve.setData(np.asarray(self._steps_x), np.asarray(self._steps_y))

    @property
    def n_steps_drawn(self) -> int:
        return len(self._steps_x)

    def set_history(self, rows: Sequence[dict]) -> None:
        """Per-epoch rows (history.csv) of the watched run."""
        self.train_curve.setData(*_finite(rows, "train_loss"))
        self.test_curve.setData(*_finite(rows, "test_loss"))
        self.metric_curve.setData(*_finite(rows, "metric"))

    # -- other runs ------------------------------------------------------------------------
    def set_compare(self, runs: Sequence[tuple[str, Sequence[dict]]]) -> None:
        """Overlay finished runs: ``[(name, history rows), ...]``, dashed, one colour per run."""
        for it in self._compare:
            for p, legend in ((self.loss, self.loss_legend), (self.metric_plot, self.metric_legend)):
                if it in p.items:
                    p.removeItem(it)
                    legend.removeItem(it)
        self._compare = []
        for k, (name, rows) in enumerate(runs):
            col = tuple(int(v) for v in PALETTE[(k + 4) % len(PALETTE)])
            short = name if len(name) <= 28 else name[:12] + "…" + name[-14:]
            dash = QtCore.Qt.PenStyle.DashLine
            x, y = _finite(rows, "test_loss")
            if not len(x):
                x, y = _finite(rows, "train_loss")
            a = self.loss.plot(x, y, pen=pg.mkPen(col, width=1.5, style=dash), symbol="t", symbolSize=5,
                               symbolBrush=col)
            x, y = _finite(rows, "metric")
            b = self.metric_plot.plot(x, y, pen=pg.mkPen(col, width=1.5, style=dash), symbol="t", symbolSize=5,
                                      symbolBrush=col)
            self.loss_legend.addItem(a, short)
            self.metric_legend.addItem(b, short)
            self._compare += [a, b]

    @property
    def n_compared(self) -> int:
        return len(self._compare) // 2


class CurvaturePlot(pg.PlotWidget):
    """Signed curvature along one dislocation, against arc length."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, title="Curvature along the line")
        self.setLabel("bottom", "arc length (px)")
        self.setLabel("left", "curvature (1/px)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen((150, 150, 150), width=1)))
        self.curve = self.plot(pen=pg.mkPen("w", width=2), symbol="o", symbolSize=4)

    def set_spline(self, spline, colour=(255, 255, 255), pixel_size_nm: Optional[float] = None) -> None:
        """Show ``spline`` (core.analysis.splines.Spline) or nothing (None); in nm when the pixel size is known."""
        if spline is None:
            self.curve.setData([], [])
            return
        s, k = spline.arc_length, spline.curvature
        unit = "px"
        if pixel_size_nm:
            s, k, unit = s * pixel_size_nm, k / pixel_size_nm, "nm"
        self.setLabel("bottom", f"arc length ({unit})")
        self.setLabel("left", f"curvature (1/{unit})")
        self.curve.setData(s, k, pen=pg.mkPen(colour, width=2), symbolBrush=colour, symbolPen=None)


class PairPlot(pg.GraphicsLayoutWidget):
    """Distance between chosen pairs against time (s, when the frame rate is known) or frame, with a cursor.

    The legend sits beside the plot, never over a curve.

    Signals
    -------
    cursorMoved(int)
        The user dragged the cursor to another frame.
    """

    cursorMoved = QtCore.Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot_item = self.addPlot(row=0, col=0, title="Distance between dislocations")
        self.legend = side_legend(self, 0, 1)
        self.units = Units()
        self.plot_item.setLabel("bottom", "frame")
        self.plot_item.setLabel("left", "mean distance (px)")
        for ax in ("left", "bottom"):
            self.plot_item.getAxis(ax).enableAutoSIPrefix(False)
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.frame_line = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen((230, 230, 230), width=1.5),
                                          hoverPen=pg.mkPen((255, 255, 0), width=2))
        self.frame_line.setZValue(20)
        self.plot_item.addItem(self.frame_line)
        self.frame_line.sigPositionChangeFinished.connect(self._on_drag)
        self.frame_line.sigDragged.connect(self._on_drag)
        self.items_by_pair: dict[tuple[int, int], pg.PlotDataItem] = {}
        self._n_frames = 1

    def getPlotItem(self) -> pg.PlotItem:  # noqa: N802 (as pg.PlotWidget names it)
        return self.plot_item

    def set_units(self, units: Units) -> None:
        """Time axis in s when the frame rate is known, distances in nm when the pixel size is."""
        self.units = units
        self.plot_item.setLabel("bottom", "time (s)" if units.fps else "frame")
        self.plot_item.setLabel("left", f"mean distance ({units.length_unit})")
        self.set_frames(self._n_frames)

    def set_frames(self, n_frames: int) -> None:
        """The time axis spans the run, with or without pairs; the cursor stays inside it."""
        self._n_frames = n_frames
        end = self.units.time(max(1, n_frames - 1))
        self.plot_item.setXRange(0, end, padding=0.02)
        self.frame_line.setBounds((0, self.units.time(max(0, n_frames - 1))))

    def set_rows(self, rows: Sequence[tuple], units: Optional[Units] = None, colours: Optional[dict] = None) -> None:
        """Rows (frame, time_s, id_a, id_b, distance_px) as from core.analysis.tracking.pair_distance_rows."""
        if units is not None and units != self.units:
            self.set_units(units)
        u = self.units
        for it in self.items_by_pair.values():
            self.plot_item.removeItem(it)
        self.legend.clear()
        self.items_by_pair = {}
        pairs = sorted({(r[2], r[3]) for r in rows}, key=lambda p: [r[2:4] for r in rows].index(p))
        for k, pair in enumerate(pairs):
            pts = np.array([(r[0], u.length(r[4])) for r in rows if (r[2], r[3]) == pair], np.float64)
            f, y = pts[:, 0], pts[:, 1]
            gap = np.flatnonzero(np.diff(f) > 1) + 1  # frames where the pair was not seen: break the line
            x = np.asarray([u.time(v) for v in f])
            x, y = np.insert(x, gap, np.nan), np.insert(y, gap, np.nan)
            col = (colours or {}).get(pair, tuple(int(v) for v in PALETTE[k % len(PALETTE)]))
            it = self.plot_item.plot(x, y, pen=pg.mkPen(col, width=1.5), symbol="o", symbolSize=5, connect="finite",
                                     symbolBrush=col, symbolPen=None)
            self.legend.addItem(it, f"{pair[0]}–{pair[1]}")
            self.items_by_pair[pair] = it
        if rows:
            self.plot_item.enableAutoRange(axis="y")

    def set_cursor(self, frame: int) -> None:
        self.frame_line.blockSignals(True)
        self.frame_line.setValue(self.units.time(frame))
        self.frame_line.blockSignals(False)

    def _on_drag(self) -> None:
        x = self.frame_line.value()
        self.cursorMoved.emit(int(round(x * self.units.fps if self.units.fps else x)))

    def export(self, path: str) -> None:
        """Save the plot as PNG or SVG (by the file extension) with pyqtgraph's exporters."""
        import pyqtgraph.exporters as ex

        from core.io.fileio import atomic_write_bytes

        if str(path).lower().endswith(".svg"):
            try:
                data = ex.SVGExporter(self.ci).export(toBytes=True)
            except ValueError:  # pyqtgraph 0.14 cannot parse Qt >= 6.10's closed SVG paths (pyqtgraph#3495)
                data = self._svg_by_qt()
        else:
            e = ex.ImageExporter(self.ci)  # the plot and its legend beside it
            e.parameters()["width"] = 1200
            buf = QtCore.QBuffer()
            buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
            e.export(toBytes=True).save(buf, "PNG")
            data = bytes(buf.data())
        atomic_write_bytes(path, data)  # a failed export never leaves half a file under the name

    def _svg_by_qt(self) -> bytes:
        """The plot drawn by Qt's own SVG generator, on the plot's background."""
        from PySide6 import QtGui, QtSvg

        source = self.ci.sceneBoundingRect()
        target = QtCore.QRectF(0, 0, source.width(), source.height())
        buf = QtCore.QBuffer()
        buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        gen = QtSvg.QSvgGenerator()
        gen.setOutputDevice(buf)
        gen.setSize(target.size().toSize())
        gen.setViewBox(target)
        gen.setResolution(self.logicalDpiX())  # at the default 72 dpi, pyqtgraph's curves are drawn 4/3 too wide
        gen.setTitle("Distance between dislocations")
        p = QtGui.QPainter(gen)
        p.fillRect(target, self.backgroundBrush())
        self.scene().render(p, target, source)
        p.end()
        return bytes(buf.data())
