"""Draw and edit dislocations as splines on top of an image.

The editor displays a :class:`core.project.annotation.FrameAnnotations` and turns
mouse clicks into calls of its methods; the model owns the data and the undo
history. Mouse use:

- Draw tool: each click adds a support point; the cubic spline follows the
  cursor; Enter or a double-click finishes the line, Esc drops it.
- Both tools: drag a support point to move it (one undo step per drag).
- Select tool: click a curve to select its dislocation, click the selected
  curve again to insert a support point there; click a point to select it.
  Delete removes the selected point, or the selected dislocation when no
  point is selected.

Lines the model predicted and nobody accepted yet are drawn dashed in
:data:`PREDICTED_RGB`; moving, inserting or deleting one of their points
accepts that line as an annotated one, in the same undo step.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from core.colors import color
from core.project.annotation import FrameAnnotations, spline_points

PICK_PX = 8.0  # how close (screen px) a click must be to a point or a curve
PREDICTED_RGB = (255, 40, 255)  # predicted, not yet accepted: no dislocation colour (tab20) is this magenta


class _MouseCatcher(pg.GraphicsObject):
    """An invisible item over the whole image that receives clicks and drags."""

    def __init__(self, editor: "SplineEditor") -> None:
        super().__init__()
        self.editor = editor
        self._rect = QtCore.QRectF(0, 0, 1, 1)

    def set_rect(self, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(rect)

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect

    def paint(self, p, *args) -> None:  # invisible
        pass

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.editor.click(ev.pos(), ev.double())

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            if not self.editor.drag_start(ev.buttonDownPos()):
                ev.ignore()  # not on a point: let the view pan
                return
        elif not self.editor.is_dragging:
            ev.ignore()
            return
        ev.accept()
        self.editor.drag_move(ev.pos())
        if ev.isFinish():
            self.editor.drag_finish()


class SplineEditor(QtCore.QObject):
    """Shows the dislocations of one frame in ``viewbox`` and edits them.

    Signals
    -------
    selectionChanged(int)
        Index of the selected dislocation, -1 for none.
    message(str)
        A hint for the status bar.
    """

    selectionChanged = QtCore.Signal(int)
    message = QtCore.Signal(str)

    def __init__(self, viewbox: pg.ViewBox, parent=None) -> None:
        super().__init__(parent)
        self.vb = viewbox
        self.fa: Optional[FrameAnnotations] = None
        self.tool = "draw"
        self.selected = -1
        self.selected_point = -1
        self.drawing: list[tuple[float, float]] = []
        self._cursor: Optional[tuple[float, float]] = None
        self._drag: Optional[tuple[int, int]] = None
        self._items: list[tuple[pg.PlotCurveItem, pg.ScatterPlotItem]] = []
        self.catcher = _MouseCatcher(self)
        self.catcher.setZValue(20)
        self.vb.addItem(self.catcher)
        self.live_curve = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 0), width=2, style=QtCore.Qt.PenStyle.DashLine))
        self.live_points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(255, 255, 0), pen=pg.mkPen("k"))
        for it in (self.live_curve, self.live_points):
            it.setZValue(15)
            self.vb.addItem(it)
        self.vb.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # -- model ------------------------------------------------------------------
    def set_annotations(self, fa: Optional[FrameAnnotations], height: int, width: int) -> None:
        """Show another frame's annotations (``None`` for none)."""
        if self.fa is not None and self._on_model_changed in self.fa.listeners:
            self.fa.listeners.remove(self._on_model_changed)
        self.fa = fa
        self.drawing = []
        self._drag = None
        self.catcher.set_rect(QtCore.QRectF(0, 0, width, height))
        if fa is not None:
            fa.listeners.append(self._on_model_changed)
        self.select(-1)
        self.refresh()

    def _on_model_changed(self) -> None:
        if self.fa is not None and self.selected >= len(self.fa):
            self.select(-1)
        self.refresh()

    def set_tool(self, tool: str) -> None:
        """``"draw"`` or ``"select"``."""
        if tool not in ("draw", "select"):
            raise ValueError(tool)
        if tool != "draw":
            self.cancel_drawing()
        self.tool = tool

    def select(self, i: int, point: int = -1) -> None:
        self.selected, self.selected_point = i, point
        self.refresh()
        self.selectionChanged.emit(i)

    # -- drawing --------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw every dislocation and the line being drawn."""
        n = len(self.fa) if self.fa is not None else 0
        while len(self._items) > n:
            for it in self._items.pop():
                self.vb.removeItem(it)
        while len(self._items) < n:
            c, s = pg.PlotCurveItem(), pg.ScatterPlotItem(size=8)
            c.setZValue(10)
            s.setZValue(11)
            self.vb.addItem(c)
            self.vb.addItem(s)
            self._items.append((c, s))
        for i, (c, s) in enumerate(self._items):
            d = self.fa[i]
            sel = i == self.selected
            curve = d.curve()
            if d.predicted:  # the model's proposal: one colour, dashed, hollow squares, until accepted
                c.setData(curve[:, 0], curve[:, 1], pen=pg.mkPen(PREDICTED_RGB, width=3 if sel else 2,
                                                                 style=QtCore.Qt.PenStyle.DashLine))
                s.setData(d.points[:, 0], d.points[:, 1], symbol="s", brush=pg.mkBrush(None),
                          pen=pg.mkPen("w" if sel else PREDICTED_RGB, width=2), size=10 if sel else 7)
                continue
            rgb = color(i)
            c.setData(curve[:, 0], curve[:, 1], pen=pg.mkPen(rgb, width=3 if sel else 1.5))
            brushes = [pg.mkBrush(255, 255, 255) if (sel and j == self.selected_point) else pg.mkBrush(*rgb)
                       for j in range(len(d.points))]
            s.setData(d.points[:, 0], d.points[:, 1], symbol="o", brush=brushes,
                      pen=pg.mkPen("w" if sel else "k", width=1.5 if sel else 1), size=10 if sel else 7)
        self._refresh_live()

    def _refresh_live(self) -> None:
        pts = list(self.drawing)
        if pts and self._cursor is not None:
            pts = pts + [self._cursor]
        if len(pts) >= 2:
            c = spline_points(np.array(pts))
            self.live_curve.setData(c[:, 0], c[:, 1])
        else:
            self.live_curve.setData([], [])
        d = np.array(self.drawing).reshape(-1, 2)
        self.live_points.setData(d[:, 0], d[:, 1])

    def _on_mouse_moved(self, scene_pos) -> None:
        if self.tool == "draw" and self.drawing:
            p = self.vb.mapSceneToView(scene_pos)
            self._cursor = (p.x(), p.y())
            self._refresh_live()

    def finish_drawing(self) -> bool:
        """Turn the line being drawn into a dislocation (needs 2 points); True if added."""
        pts, self.drawing, self._cursor = self.drawing, [], None
        self._refresh_live()
        if self.fa is None or len(pts) < 2:
            if pts:
                self.message.emit("a dislocation needs at least 2 points; line dropped")
            return False
        i = self.fa.add(np.array(pts))
        self.select(i)
        self.message.emit(f"dislocation {i + 1} added ({len(pts)} points)")
        return True

    def cancel_drawing(self) -> None:
        self.drawing, self._cursor = [], None
        self._refresh_live()

    # -- picking ----------------------------------------------------------------------
    def _tol(self) -> float:
        """PICK_PX screen pixels in image px."""
        sx, sy = self.vb.viewPixelSize()
        return PICK_PX * max(sx, sy)

    def pick_point(self, xy) -> tuple[int, int]:
        """(dislocation, point) under ``xy`` or (-1, -1); the selected dislocation wins ties."""
        if self.fa is None:
            return -1, -1
        tol, cands = self._tol(), []
        for i, d in enumerate(self.fa):
            j, dist = d.nearest_point(xy)
            if dist <= tol:
                cands.append((i != self.selected, dist, i, j))
        if not cands:
            return -1, -1
        _, _, i, j = min(cands)
        return i, j

    def pick_curve(self, xy) -> tuple[int, int]:
        """(dislocation, insertion index) of the curve under ``xy`` or (-1, -1)."""
        if self.fa is None:
            return -1, -1
        tol, best = self._tol(), (-1, -1, float("inf"))
        for i, d in enumerate(self.fa):
            idx, dist = d.insertion_index(xy)
            if dist <= tol and dist < best[2]:
                best = (i, idx, dist)
        return best[0], best[1]

    # -- mouse ------------------------------------------------------------------------
    def click(self, pos: QtCore.QPointF, double: bool = False) -> None:
        """A left click at ``pos`` (image px)."""
        if self.fa is None:
            return
        xy = (float(pos.x()), float(pos.y()))
        if self.tool == "draw":
            if double:
                self.finish_drawing()  # the first click of the pair already added the point
                return
            self.drawing.append(xy)
            self._refresh_live()
            if len(self.drawing) == 1:
                self.message.emit("click to add support points; Enter or double-click finishes, Esc drops")
            return
        i, j = self.pick_point(xy)
        if i >= 0:
            self.select(i, j)
            return
        i, idx = self.pick_curve(xy)
        if i < 0:
            self.select(-1)
        elif i != self.selected:
            self.select(i)
        else:
            self.fa.insert_point(i, idx, xy)
            self.select(i, idx)
            self.message.emit(f"point inserted in dislocation {i + 1}")

    @property
    def is_dragging(self) -> bool:
        return self._drag is not None

    def drag_start(self, pos: QtCore.QPointF) -> bool:
        i, j = self.pick_point((pos.x(), pos.y()))
        if i < 0:
            return False
        self._drag = (i, j)
        self.fa.begin_drag()
        self.select(i, j)
        return True

    def drag_move(self, pos: QtCore.QPointF) -> None:
        if self._drag is None:
            return
        i, j = self._drag
        self.fa.drag_point(i, j, (pos.x(), pos.y()))
        self.refresh()

    def drag_finish(self) -> None:
        if self._drag is None:
            return
        self._drag = None
        self.fa.end_drag()  # one undo step; listeners autosave

    # -- keys (called by the panel's actions) ---------------------------------------------
    def delete_selected(self) -> bool:
        """Delete the selected point, else the selected dislocation; True if something went."""
        if self.fa is None:
            return False
        if self.drawing:
            self.drawing.pop()
            self._refresh_live()
            return True
        i, j = self.selected, self.selected_point
        if not 0 <= i < len(self.fa):
            return False
        if j >= 0:
            self.fa.remove_point(i, j)
            self.select(i if i < len(self.fa) else -1)
        else:
            self.fa.remove(i)
            self.select(-1)
            self.message.emit(f"dislocation {i + 1} deleted")
        return True


def make_colour_icon(rgb) -> QtGui.QIcon:
    """A small square icon in a dislocation's colour (for the list)."""
    pm = QtGui.QPixmap(12, 12)
    pm.fill(QtGui.QColor(*rgb))
    return QtGui.QIcon(pm)
