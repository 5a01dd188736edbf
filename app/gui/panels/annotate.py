"""Annotate: label a few real frames with splines, cut background patches.

Every edit is saved at once (atomic labelme JSON in the project's
annotations/), so closing the app or a crash loses nothing. Undo history is
kept per frame while the panel is open.

"Predict this frame" (P) runs the project's model (else the shipped one) on
the frame in a worker, at the Segment panel's Scale (so a frame looks here as
it will when the video is segmented), and puts its splines on the frame as *predicted* lines:
dashed, in one colour, apart from the annotated ones and never written to
the labelme file. Accept (Ctrl+Enter) makes them annotated lines, Discard
(Shift+Delete) removes them, and editing a predicted line accepts that one;
each is one undo step. Predicted lines live in memory only, per frame, while
the project is open: predicting again takes a second, and a file that held
them would look like an annotation to other tools.
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from core.colors import color
from core.errors import DislocError
from core.io.labelme import rasterize_polyline
from core.analysis.frameview import support_points
from core.project.annotation import FrameAnnotations
from core.project.folder import safe_name
from core.project.runs import project_model

from ..actions import make_action, set_icons
from ..context import AppContext
from ..widgets.framenav import FrameNavigator
from ..widgets.imagepane import ImagePane
from ..widgets.spline_editor import PREDICTED_RGB, SplineEditor, make_colour_icon
from ..workers import LatestOnly
from .framepredict import FramePredictor


class AnnotatePanel(QtWidgets.QWidget):
    """Frames of the project with their dislocations, editable.

    Signals
    -------
    frameShown(int)
        A frame and its annotations are on screen.
    """

    frameShown = QtCore.Signal(int)
    title = "Annotate"

    def __init__(self, ctx: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.index = -1
        self.frame: Optional[np.ndarray] = None
        self.fa: Optional[FrameAnnotations] = None
        self._cache: dict[str, FrameAnnotations] = {}
        self._loader = LatestOnly(self)
        self._loader.result.connect(self._on_frame_loaded)
        self._loader.failed.connect(lambda _rid, msg: self.ctx.error(
            f"{msg}. Go to another frame (Page Up / Page Down); the rest of the project is usable."))
        self.predictor = FramePredictor()
        self._predicting = LatestOnly(self)
        self._predicting.result.connect(lambda _rid, v: self._on_predicted(*v))
        self._predicting.failed.connect(lambda _rid, msg: self.ctx.error(
            f"predicting the frame failed: {msg}. Choose another model in the Train panel (Use as project "
            "model) or the Segment panel (Choose model…)."))
        self._saved: dict[str, tuple] = {}  # the annotated lines as last saved, per frame
        # where "Predict this frame" reads its scale: the window points it at the Segment panel's Scale box,
        # so a frame is predicted here as it is segmented there
        self.scale_source: Callable[[], Union[float, str]] = lambda: 1.0
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(self._on_project)
        ctx.unitsChanged.connect(self._on_units)

    # -- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        self.view = ImagePane(histogram=True)
        self.view.pixelHovered.connect(self.ctx.pixel)
        self.editor = SplineEditor(self.view.vb, self)
        self.editor.message.connect(self.ctx.info)
        self.editor.selectionChanged.connect(self._sync_list_selection)
        self.placeholder = QtWidgets.QLabel(
            "No frames yet.\n\nOpen or create a project (File menu), then choose its frames with\n"
            "File > Set frames… (a video, a TIFF stack or a folder of images).")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.view)

        self.nav = FrameNavigator(label_width=170, spin_tip="Frame number (0-based)")
        self.nav.frameChanged.connect(self.show_frame)
        self.slider = self.nav.slider  # tests move it
        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.stack, 1)
        left.addWidget(self.nav)

        self.side = QtWidgets.QVBoxLayout()
        self.tools = QtWidgets.QToolBar()
        self.tools.setOrientation(QtCore.Qt.Orientation.Vertical)
        self.tools.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.side.addWidget(self.tools)
        self.list_label = QtWidgets.QLabel("Dislocations in this frame (spline length):")
        self.side.addWidget(self.list_label)
        self.list = QtWidgets.QListWidget()
        self.list.currentRowChanged.connect(lambda r: self.editor.select(r) if r != self.editor.selected else None)
        self.side.addWidget(self.list, 1)
        self.hint = QtWidgets.QLabel(
            "<b>Draw</b> (D): click points; Enter or double-click ends, Esc drops.<br>"
            "<b>Select</b> (S): click a curve, again to insert a point; drag points; Delete removes.<br>"
            "Every edit is saved; <b>predicted</b> (dashed) lines once accepted or edited.")
        self.hint.setToolTip("Delete removes the selected point, or the whole dislocation when no point is selected")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color:#555;")
        self.side.addWidget(self.hint)
        sidew = QtWidgets.QWidget()
        sidew.setLayout(self.side)
        sidew.setMinimumWidth(250)
        sidew.setMaximumWidth(340)

        lay = QtWidgets.QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addWidget(sidew)

    def _build_actions(self) -> None:
        A = make_action
        self.act_draw = A(self, "&Draw dislocation", "D", "Click support points of a new dislocation",
                          checkable=True, triggered=lambda: self.set_tool("draw"))
        self.act_select = A(self, "&Select / edit", "S", "Select, move, insert and delete points",
                            checkable=True, triggered=lambda: self.set_tool("select"))
        group = QtGui.QActionGroup(self)
        for a in (self.act_draw, self.act_select):
            group.addAction(a)
        self.act_draw.setChecked(True)
        self.act_finish = A(self, "&Finish line", ["Return", "Enter"], "Finish the dislocation being drawn",
                            triggered=self.editor.finish_drawing)
        self.act_cancel = A(self, "Drop line", "Esc", "Drop the line being drawn", triggered=self._escape)
        self.act_delete = A(self, "&Delete", ["Delete", "Backspace"],
                            "Delete the selected point, or the selected dislocation", triggered=self.delete_selected)
        self.act_undo = A(self, "&Undo", QtGui.QKeySequence.StandardKey.Undo, "Undo the last edit", triggered=self.undo)
        self.act_redo = A(self, "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo", triggered=self.redo)
        self.act_prev = A(self, "&Previous frame", "PgUp", "Show the previous frame",
                          triggered=lambda: self.nav.step(-1))
        self.act_next = A(self, "&Next frame", "PgDown", "Show the next frame",
                          triggered=lambda: self.nav.step(1))
        self.act_copy_prev = A(self, "&Copy previous frame", "Ctrl+Shift+V",
                               "Start this frame from the previous frame's dislocations (undoable)",
                               triggered=self.copy_previous)
        self.act_contrast = A(self, "&Auto contrast", "A", "Stretch contrast to the 0.5-99.5 % grey values",
                              triggered=self.view.auto_contrast)
        self.act_fit = A(self, "&Fit image", "F", "Show the whole frame", triggered=lambda: self.view.vb.autoRange())
        self.act_predict = A(self, "&Predict this frame", "P",
                             "Put the model's lines on this frame as predicted lines (dashed), apart from yours",
                             triggered=self.predict_frame)
        self.act_accept = A(self, "&Accept predicted", ["Ctrl+Return", "Ctrl+Enter"],
                            "Make the predicted lines annotated ones (editing a predicted line accepts it)",
                            triggered=self.accept_predicted)
        self.act_discard = A(self, "D&iscard predicted", "Shift+Delete", "Remove the predicted lines",
                             triggered=self.discard_predicted)
        self.act_patch = A(self, "Cut &background patch", "B",
                           "Show a rectangle; put it on a region without dislocations, then press B again to save it",
                           checkable=True, triggered=lambda: self.toggle_patch(self.act_patch.isChecked()))
        set_icons([(self.act_draw, "draw"), (self.act_select, "select"), (self.act_undo, "undo"),
                   (self.act_redo, "redo"), (self.act_delete, "delete"), (self.act_prev, "prev"),
                   (self.act_next, "next"), (self.act_copy_prev, "copy"), (self.act_contrast, "contrast"),
                   (self.act_fit, "fit"), (self.act_patch, "patch"), (self.act_finish, "finish"),
                   (self.act_predict, "predict"), (self.act_accept, "accept"), (self.act_discard, "discard")])
        self.tools.setIconSize(QtCore.QSize(20, 20))
        self.tools.setStyleSheet("QToolButton { padding: 2px 6px; border: 1px solid #c8ccd2; border-radius: 4px;"
                                 " background: #fafbfc; min-width: 230px; text-align: left; }"
                                 "QToolButton:checked { background: #d6e4f5; border-color: #6b93c4; }"
                                 "QToolButton:disabled { color: #999; }")
        # Previous and next frame are not here: the frame row, Page Up / Page Down and the View menu have them,
        # and a 720 px screen has no room for every button.
        for a in (self.act_draw, self.act_select, None, self.act_undo, self.act_redo, self.act_delete, None,
                  self.act_predict, self.act_accept, self.act_discard, None,
                  self.act_copy_prev, self.act_contrast, self.act_fit, self.act_patch):
            self.tools.addSeparator() if a is None else self.tools.addAction(a)
        self.patch_roi: Optional[pg.RectROI] = None

    def menu_actions(self) -> dict[str, list]:
        """Actions the main window puts in its menus (None = separator)."""
        return {"Edit": [self.act_undo, self.act_redo, None, self.act_draw, self.act_select, self.act_finish,
                         self.act_cancel, self.act_delete, None, self.act_predict, self.act_accept,
                         self.act_discard, None, self.act_copy_prev, self.act_patch],
                "View": [self.act_prev, self.act_next, None, self.act_contrast, self.act_fit]}

    def set_active(self, active: bool) -> None:
        """Only the visible panel's shortcuts work (Delete and Enter mean different things elsewhere)."""
        for group in self.menu_actions().values():
            for a in group:
                if a is not None:
                    a.setEnabled(active)
        if active:
            self._update_undo_actions()

    # -- project and frames ----------------------------------------------------------------
    def _on_project(self, project) -> None:
        self._cache.clear()
        self._saved.clear()
        self.predictor.clear()
        self.index = -1
        self.fa = None
        self.editor.set_annotations(None, 1, 1)
        self.list.clear()
        src = self.ctx.frames() if project is not None else None
        if src is None or len(src) == 0:
            self.stack.setCurrentWidget(self.placeholder)
            return
        self.stack.setCurrentWidget(self.view)
        self.nav.set_count(len(src), 0)
        self._mark_annotated()
        self.show_frame(0)

    def _on_units(self, units) -> None:
        self.view.set_units(units)
        self._refresh_list()

    def show_frame(self, i: int) -> None:
        """Load frame ``i`` in a worker (the newest request wins) and show it with its annotations."""
        src = self.ctx.frames()
        if src is None or not 0 <= i < len(src):
            return
        self.editor.cancel_drawing()
        self._loader.submit(lambda: (i, src[i]))

    def _on_frame_loaded(self, _rid: int, value) -> None:
        i, frame = value
        src = self.ctx.frames()
        if src is None:
            return
        self.index, self.frame = i, frame
        h, w = frame.shape
        name = self.frame_name(i)
        fa = self._cache.get(name)
        if fa is None:
            fa, msgs = self.ctx.project.load_annotations(name, h, w)
            for m in msgs:
                self.ctx.warn(m)
            fa.listeners.append(lambda n=name, f=fa: self._autosave(n, f))
            self._cache[name] = fa
            self._saved[name] = _annotated_lines(fa)
        self.fa = fa
        self.view.set_image(frame)
        self.editor.set_annotations(fa, h, w)
        self.nav.show_position(i, len(src), src.frame_time(i) if hasattr(src, "frame_time") else None, src.name(i))
        self._refresh_list()
        self._update_undo_actions()
        self.frameShown.emit(i)

    def frame_name(self, i: int) -> str:
        return safe_name(self.ctx.frames().name(i))

    def annotated_frames(self) -> list[int]:
        """Indices of the frames that have an annotation file (marked on the frame slider)."""
        src, p = self.ctx.frames(), self.ctx.project
        if src is None or p is None:
            return []
        have = set(p.annotated_frames())
        return [i for i in range(len(src)) if safe_name(src.name(i)) in have]

    def _mark_annotated(self) -> None:
        self.nav.set_marks(self.annotated_frames(), "annotated frames")

    # -- edits ------------------------------------------------------------------------
    def _autosave(self, name: str, fa: FrameAnnotations) -> None:
        lines = _annotated_lines(fa)
        # Predicting, discarding and undoing them change no annotated line: nothing to write (and a frame
        # without a file does not become an "annotated" one with no lines).
        if lines != self._saved.get(name):
            frame = self.frame if fa is self.fa else None
            try:
                self.ctx.project.save_annotations(name, fa, frame)
                self._saved[name] = lines
            except (OSError, DislocError) as e:
                self.ctx.error(f"could not save annotations of {name}: {e}. Free disk space or check permissions; "
                               f"your edits stay in memory until saving works.")
            self._mark_annotated()
        if fa is self.fa:
            self._refresh_list()
            self._update_undo_actions()

    def _refresh_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        u = self.ctx.units()
        if self.fa is not None:
            for k, L in enumerate(self.fa.lengths()):
                pred = self.fa[k].predicted
                it = QtWidgets.QListWidgetItem(make_colour_icon(PREDICTED_RGB if pred else color(k)),
                                               f"{k + 1:>3}    {u.fmt_length(L):>10}" + ("   predicted" if pred else ""))
                if pred:
                    it.setToolTip("Predicted by the model, not yet accepted: not saved. Accept (Ctrl+Enter), "
                                  "edit it (accepts it) or Discard (Shift+Delete)")
                self.list.addItem(it)
            self.list.setCurrentRow(self.editor.selected)
        self.list.blockSignals(False)

    def _sync_list_selection(self, i: int) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(i)
        self.list.blockSignals(False)

    def _update_undo_actions(self) -> None:
        self.act_undo.setEnabled(self.fa is not None and self.fa.can_undo)
        self.act_redo.setEnabled(self.fa is not None and self.fa.can_redo)
        n = self.fa.n_predicted if self.fa is not None else 0
        self.act_accept.setEnabled(n > 0)
        self.act_discard.setEnabled(n > 0)
        self.list_label.setText(f"Dislocations (spline length), {n} predicted:" if n else
                                "Dislocations in this frame (spline length):")

    def set_tool(self, tool: str) -> None:
        self.editor.set_tool(tool)
        (self.act_draw if tool == "draw" else self.act_select).setChecked(True)

    def undo(self) -> None:
        if self.fa is not None and self.fa.undo():
            self.ctx.info("undone")

    def redo(self) -> None:
        if self.fa is not None and self.fa.redo():
            self.ctx.info("redone")

    def delete_selected(self) -> None:
        if not self.editor.delete_selected():
            self.ctx.info("nothing selected: choose Select (S) and click a dislocation or a point")

    def _escape(self) -> None:
        if self.patch_roi is not None:
            self.act_patch.setChecked(False)
            self._remove_patch_roi()
        elif self.editor.drawing:
            self.editor.cancel_drawing()
        else:
            self.editor.select(-1)

    def copy_previous(self) -> None:
        """Replace this frame's dislocations by the previous frame's (one undo step)."""
        if self.fa is None or self.index <= 0:
            self.ctx.info("no previous frame")
            return
        name = self.frame_name(self.index - 1)
        prev = self._cache.get(name)
        if prev is None:
            prev, msgs = self.ctx.project.load_annotations(name, self.fa.height, self.fa.width)
            for m in msgs:
                self.ctx.warn(m)
        if len(prev) == 0:
            self.ctx.info(f"frame {self.index - 1} has no dislocations to copy")
            return
        self.fa.replace_all([d.copy() for d in prev])
        self.ctx.info(f"copied {len(prev)} dislocations from frame {self.index - 1}; drag points to fit (Ctrl+Z undoes)")

    # -- model-assisted annotation ------------------------------------------------------------
    def predict_frame(self) -> None:
        """Run the project's model (else the shipped one) on the frame on screen, in a worker."""
        if self.fa is None or self.frame is None:
            self.ctx.info("no frame to predict: choose the project's frames first (File > Set frames…)")
            return
        path, note = project_model(self.ctx.project.root)
        if path is None:
            self.ctx.warn(note)
            return
        try:
            scale = self.scale_source()
        except DislocError as e:
            self.ctx.warn(f"{e} (the Scale box of the Segment panel, which Predict this frame uses too)")
            return
        i, frame = self.index, self.frame
        at = "" if scale == 1.0 else f" at scale {scale} (the Segment panel's Scale)"
        self.ctx.info(f"predicting frame {i} with the {note} ({path.name}){at}…")
        self._predicting.submit(lambda: (i, self.predictor.view(i, frame, path, scale)))

    def _on_predicted(self, i: int, view) -> None:
        src = self.ctx.frames()
        fa = self._cache.get(self.frame_name(i)) if src is not None and i < len(src) else None
        if fa is None:
            return  # another project since
        lines = [support_points(s) for s in view.splines if s is not None]
        n = fa.set_predicted(lines)
        left = len(lines) - n
        self.ctx.info(f"frame {i}: {n} predicted lines (dashed)" +
                      (f"; {left} more lie on lines you traced already" if left else "") +
                      ". Drag their points to correct them (that accepts a line), then Accept predicted "
                      "(Ctrl+Enter) or Discard (Shift+Delete); Ctrl+Z undoes." if n or left else
                      f"frame {i}: the model found no dislocation here; draw them (D), then fine-tune in Train")

    def put_predicted(self, lines) -> int:
        """Put lines (support points (P, 2) px each) on the frame on screen as predicted ones; returns how many."""
        return self.fa.set_predicted(lines) if self.fa is not None else 0

    def accept_predicted(self) -> None:
        n = self.fa.accept_predicted() if self.fa is not None else 0
        self.ctx.info(f"{n} predicted lines accepted and saved (Ctrl+Z undoes)" if n else "no predicted lines "
                      "on this frame: Predict this frame (P) first")

    def discard_predicted(self) -> None:
        n = self.fa.discard_predicted() if self.fa is not None else 0
        self.ctx.info(f"{n} predicted lines discarded (Ctrl+Z brings them back)" if n else
                      "no predicted lines on this frame")

    # -- background patches ------------------------------------------------------------------
    def toggle_patch(self, checked: bool) -> None:
        """First press: show a rectangle; second press: save the region under it."""
        if self.frame is None:
            self.act_patch.setChecked(False)
            return
        if checked:
            h, w = self.frame.shape
            self.patch_roi = pg.RectROI([w * 0.35, h * 0.35], [w * 0.3, h * 0.3], pen=pg.mkPen("c", width=2),
                                        maxBounds=QtCore.QRectF(0, 0, w, h))
            self.patch_roi.setZValue(30)
            self.view.vb.addItem(self.patch_roi)
            self.ctx.info("move and resize the cyan rectangle onto a region without dislocations; press B to save it")
        else:
            self.save_patch()

    def patch_rect(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in px of the patch rectangle, clipped to the frame."""
        h, w = self.frame.shape
        pos, size = self.patch_roi.pos(), self.patch_roi.size()
        x0, y0 = int(round(max(0, pos.x()))), int(round(max(0, pos.y())))
        x1, y1 = int(round(min(w, pos.x() + size.x()))), int(round(min(h, pos.y() + size.y())))
        return x0, y0, x1, y1

    def save_patch(self) -> Optional[str]:
        if self.patch_roi is None or self.frame is None:
            return None
        x0, y0, x1, y1 = self.patch_rect()
        self._remove_patch_roi()
        crop = self.frame[y0:y1, x0:x1]
        if self.fa is not None and len(self.fa):
            hit = [k + 1 for k, d in enumerate(self.fa)
                   if rasterize_polyline(d.curve(), self.frame.shape, 3.0)[y0:y1, x0:x1].any()]
            if hit:
                self.ctx.warn(f"the rectangle crosses dislocation(s) {hit}; not saved. "
                              f"Place it on a clean region and press B again.")
                return None
        try:
            path = self.ctx.project.save_background(crop, self.frame_name(self.index))
        except (OSError, DislocError) as e:
            self.ctx.error(f"background patch not saved: {e}")
            return None
        self.ctx.info(f"background patch {x1 - x0}x{y1 - y0} px saved to {path}")
        return str(path)

    def _remove_patch_roi(self) -> None:
        if self.patch_roi is not None:
            self.view.vb.removeItem(self.patch_roi)
            self.patch_roi = None
        self.act_patch.setChecked(False)

    def shutdown(self) -> None:
        self._loader.stop()
        self._predicting.stop()


def _annotated_lines(fa: FrameAnnotations) -> tuple:
    """What the labelme file holds of a frame's lines (predicted ones are not written)."""
    return tuple((d.label, d.points.tobytes()) for d in fa if not d.predicted)
