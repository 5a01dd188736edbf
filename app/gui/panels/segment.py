"""Segment and inspect: run the model on one frame (F5) or the whole video, look at every mask.

One frame is segmented in a worker with a Predictor kept loaded between
frames; the whole video runs :func:`core.analysis.segment.segment_video` in a worker,
so the app writes exactly what ``disloc segment`` writes (results/<name>/
masks, splines.csv, segment_state.json) and a stopped run resumes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6 import QtCore, QtWidgets

from core.analysis.frameview import FrameView, support_points, view_from_probs
from core.analysis.postprocess import PostprocessConfig
from core.analysis.results import ResultIndex, is_result
from core.errors import DislocError
from core.project.runs import project_model, select_model
from core.shipped import default_model_path, realistic_model_path, shipped_key

from ..actions import make_action
from ..context import AppContext
from ..widgets.framenav import FrameNavigator
from ..widgets.imagepane import ImagePane
from ..widgets.inspector import MaskInspector, raw_layers
from ..widgets.jobbar import JobBar
from ..widgets.overlay import DislocationOverlay
from ..workers import Job, LatestOnly, start_job
from .framepredict import FramePredictor
from .segment_form import SegmentForm
from .segment_video import WholeVideoRun

MAX_CACHED_VIEWS = 32


class SegmentPanel(QtWidgets.QWidget, WholeVideoRun):
    """The project's frames with the model's masks, splines and curvature.

    Signals
    -------
    frameShown(int)
        A frame is on screen (with its result, when it has one).
    segmented(int)
        Frame ``i`` was segmented and is shown.
    videoDone(str)
        A batch run ended (finished, stopped or failed) and its thread is gone; the result folder.
    annotateRequested(int, object)
        Frame index and a list of support-point arrays (P, 2) px: the
        prediction, to become that frame's editable annotation.
    """

    frameShown = QtCore.Signal(int)
    segmented = QtCore.Signal(int)
    videoDone = QtCore.Signal(str)
    annotateRequested = QtCore.Signal(int, object)
    title = "Segment"

    def __init__(self, ctx: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.index = -1
        self.image: Optional[np.ndarray] = None
        self.view: Optional[FrameView] = None
        self.selected = -1
        self.model_path: Optional[Path] = None
        self._views: dict[int, FrameView] = {}
        self._result: Optional[ResultIndex] = None
        self._result_loading = False
        self.predictor = FramePredictor()
        self._closed = False
        self.job: Optional[Job] = None
        self._loader = LatestOnly(self)
        self._loader.result.connect(self._on_frame_loaded)
        self._loader.failed.connect(lambda _r, m: self.ctx.error(f"{m}. Go to another frame; the rest works."))
        self._segmenter = LatestOnly(self)
        self._segmenter.result.connect(lambda _r, v: self._on_segmented(v) if v is not None else None)
        self._segmenter.failed.connect(lambda _r, m: self._segment_failed(m))
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(self._on_project)
        ctx.unitsChanged.connect(self._on_units)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_label = QtWidgets.QLabel("Model: —")
        self.model_label.setWordWrap(True)
        self.choose_btn = QtWidgets.QPushButton("Choose model…")
        self.choose_btn.setToolTip("Choose the project's model: a shipped one or a checkpoint (.pt) of yours")
        menu = QtWidgets.QMenu(self.choose_btn)
        self.shipped_actions = {}
        for key, label, tip, path in (
                ("realistic", "Shipped model for real frames",
                 "Trained on the realistic preset: finds part of the dislocations in real micrographs; fine-tune "
                 "it on a few annotated frames (Train panel) for more", realistic_model_path()),
                ("default", "Shipped default model (synthetic)",
                 "Trained on the paper's synthetic m2 images: best on synthetic frames, finds little in real ones",
                 default_model_path())):
            a = menu.addAction(label, lambda p=path: self.use_model(p))
            a.setToolTip(tip)
            a.setEnabled(path.is_file())
            self.shipped_actions[key] = a
        menu.addSeparator()
        menu.addAction("A checkpoint file…", self.choose_model_dialog)
        menu.setToolTipsVisible(True)
        self.choose_btn.setMenu(menu)
        self.frame_btn = QtWidgets.QPushButton("Segment frame")
        self.auto_box = QtWidgets.QCheckBox("on every frame")
        self.auto_box.setToolTip("Segment each frame as you move to it")
        self.video_btn = QtWidgets.QPushButton("Segment whole video")
        self.restart_box = QtWidgets.QCheckBox("start over")
        self.restart_box.setToolTip("Discard the earlier results of this video instead of resuming them")
        self.pool_box = QtWidgets.QCheckBox("with last.pt")
        self.pool_box.setToolTip(
            "Also run the fine-tune's last epoch (last.pt beside the model's best.pt), for the frame (F5) and the "
            "whole video, and keep each line once: on a real video this found 0.015-0.055 more of the traced "
            "lines, with more false ones; segmenting takes nearly twice as long.")
        self.pool_box.setVisible(False)
        # The whole-video run's progress; its status line (cut to the room there is) also reports single frames.
        self.job_bar = JobBar(bar_format="%v / %m frames")
        self.status = self.job_bar.status
        self.form = SegmentForm()
        self.min_length, self.join_gap = self.form.min_length, self.form.join_gap  # tests set them
        top = QtWidgets.QHBoxLayout()
        for w in (self.frame_btn, self.auto_box, None, self.video_btn, self.restart_box, self.pool_box):
            if w is None:
                top.addSpacing(18)
            else:
                top.addWidget(w)
        top.addWidget(self.job_bar, 1)

        self.pane = ImagePane(histogram=False)
        self.pane.pixelHovered.connect(self.ctx.pixel)
        self.overlay = DislocationOverlay(self.pane, self)
        self.overlay.picked.connect(self.select)
        self.placeholder = QtWidgets.QLabel("No frames yet.\n\nOpen a project and choose its frames "
                                            "(File > Set frames…).")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.pane)
        self.nav = FrameNavigator(label_width=200)
        self.nav.frameChanged.connect(self.show_frame)
        self.slider = self.nav.slider  # tests and benchmarks move it
        self.masks_box = QtWidgets.QCheckBox("Masks")
        self.masks_box.setChecked(True)
        self.masks_box.toggled.connect(lambda on: self.overlay.set_visible_parts(masks=on))
        self.splines_box = QtWidgets.QCheckBox("Splines")
        self.splines_box.setChecked(True)
        self.splines_box.toggled.connect(lambda on: self.overlay.set_visible_parts(curves=on))
        self.nav.add_widget(self.masks_box)
        self.nav.add_widget(self.splines_box)
        left = QtWidgets.QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addLayout(top)
        left.addWidget(self.form)
        left.addWidget(self.stack, 1)
        left.addWidget(self.nav)
        leftw = QtWidgets.QWidget()
        leftw.setLayout(left)

        self.inspector = MaskInspector()
        self.inspector.picked.connect(self.select)
        self.inspector.rawToggled.connect(lambda _on: self._display())
        self.raw_box, self.grid, self.curv = self.inspector.raw_box, self.inspector.grid, self.inspector.curv
        side = QtWidgets.QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        mrow = QtWidgets.QHBoxLayout()
        mrow.addWidget(self.model_label, 1)
        mrow.addWidget(self.choose_btn)
        side.addLayout(mrow)
        side.addWidget(self.inspector, 1)
        sidew = QtWidgets.QWidget()
        sidew.setLayout(side)
        sidew.setMinimumWidth(280)
        # A splitter: the side gives way on a small screen, and the user can widen either part.
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(leftw)
        split.addWidget(sidew)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setChildrenCollapsible(False)
        split.setSizes([900, 360])
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(split)

    def _build_actions(self) -> None:
        A = make_action
        self.act_frame = A(self, "Segment &frame", "F5", "Segment the frame on screen", self.segment_frame)
        self.act_video = A(self, "Segment whole &video", "Ctrl+F5",
                           "Segment every frame in the background (resumes a stopped run)", self.segment_video)
        self.act_cancel = A(self, "&Cancel segmentation", "Esc", "Stop the batch run; finished frames are kept",
                            self.cancel)
        self.act_edit = A(self, "&Edit prediction as annotation", "E",
                          "Make this frame's prediction its editable annotation and open it in Annotate",
                          self.edit_as_annotation)
        self.act_raw = A(self, "Show &raw model outputs", "R", "Toggle the raw N masks", checkable=True,
                         triggered=lambda: self.raw_box.setChecked(self.act_raw.isChecked()))
        self.act_prev = A(self, "&Previous frame", "PgUp", "", lambda: self.nav.step(-1))
        self.act_next = A(self, "&Next frame", "PgDown", "", lambda: self.nav.step(1))
        self.raw_box.toggled.connect(self.act_raw.setChecked)
        self.frame_btn.clicked.connect(self.segment_frame)
        self.frame_btn.setToolTip(self.act_frame.toolTip())
        self.video_btn.clicked.connect(self.segment_video)
        self.pool_box.toggled.connect(self._on_pool_toggled)
        self.video_btn.setToolTip(self.act_video.toolTip())
        self.job_bar.cancelled.connect(self.cancel)
        self.inspector.edit_btn.clicked.connect(self.edit_as_annotation)

    def menu_actions(self) -> dict[str, list]:
        return {"Segment": [self.act_frame, self.act_video, self.act_cancel, None, self.act_edit, self.act_raw,
                            None, self.act_prev, self.act_next]}

    def set_active(self, active: bool) -> None:
        for a in self.menu_actions()["Segment"]:
            if a is not None:
                a.setEnabled(active)
        if active:
            self.refresh_model()
            self.warm_up()

    def is_ready(self) -> bool:
        """True once the frame (and its stored result, if any) is on screen (screenshots wait for it)."""
        if self.ctx.project is None or self.ctx.frames() is None:
            return True
        return self.image is not None and not self._loader.busy and not self._result_loading

    # -- project, model, frames -----------------------------------------------------------------
    def result_dir(self) -> Optional[Path]:
        """results/<frames name>: where the whole-video run of the project's frames goes."""
        p = self.ctx.project
        return None if p is None else p.frames_result_dir

    def _on_project(self, project) -> None:
        self._views.clear()
        self._result = None
        self.index, self.image, self.view = -1, None, None
        self.predictor.clear()
        self.overlay.clear()
        self.inspector.show_view(None)
        self.refresh_model()
        src = self.ctx.frames() if project is not None else None
        if src is None or len(src) == 0:
            self.stack.setCurrentWidget(self.placeholder)
            return
        self.stack.setCurrentWidget(self.pane)
        self.nav.set_count(len(src), 0)
        self.load_results()
        self.show_frame(0)

    def _on_units(self, units) -> None:
        self.pane.set_units(units)
        src = self.ctx.frames()
        if src is not None and self.index >= 0:
            self.nav.show_position(self.index, len(src), src.frame_time(self.index), src.name(self.index))
        if self.view is not None:
            self._select(self.selected)

    def refresh_model(self) -> None:
        """Find the model to use: the project's choice, else the shipped default."""
        root = self.ctx.project.root if self.ctx.project else None
        path, note = project_model(root)
        self.model_path = path
        if path is None:
            self.model_label.setText("<b>Model:</b> <span style='color:#a33'>none</span>")
            self.model_label.setToolTip(note)
        else:
            shown = Path(path.name) if shipped_key(path) else \
                path.relative_to(root) if root and path.is_relative_to(root) else path
            self.model_label.setText(f"<b>Model:</b> {shown.as_posix()} <i>({note})</i>")
            self.model_label.setToolTip(str(path))
        for a in (self.act_frame, self.act_video):
            a.setToolTip(a.statusTip() + ("" if path else f" — {note}"))
        self.pool_box.setVisible(self.pool_partner() is not None)

    def pool_partner(self) -> Optional[Path]:
        """The last.pt beside a fine-tune's best.pt (the model in use), which the video run can pool with; else None."""
        path = self.model_path
        if path is None or path.name != "best.pt" or not path.with_name("last.pt").is_file():
            return None
        return path.with_name("last.pt")

    def pool_hint(self, error: str) -> str:
        """What to do when a pooled run failed on the run's last.pt (damaged, removed): go on with best.pt alone."""
        partner = self.pool_partner() if self.pool_box.isChecked() else None
        named = partner is not None and (str(partner) in error or str(partner.resolve()) in error)
        return " Untick 'with last.pt' to segment with best.pt alone." if named else ""

    def _on_pool_toggled(self, _on: bool) -> None:
        """Frames segmented with the other set of models are stale: F5 segments them again; load the new set."""
        self._views.clear()
        self.warm_up()

    def models_in_use(self) -> list:
        """The checkpoints that segment (F5 and the whole video): the model, and its last.pt if 'with last.pt' is on."""
        partner = self.pool_partner()
        return [self.model_path, partner] if partner and self.pool_box.isChecked() else [self.model_path]

    def choose_model_dialog(self) -> None:
        start = str(self.ctx.project.runs_dir) if self.ctx.project else ""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a model checkpoint", start,
                                                        "Checkpoints (*.pt);;All files (*)")
        if path:
            self.use_model(path)

    def use_model(self, path) -> None:
        """Make ``path`` the project's model (runs/selected.json) and use it from now on."""
        if self.ctx.project is None:
            self.ctx.warn("open a project first (File > Open project)")
            return
        try:
            select_model(self.ctx.project.root, path)
        except (DislocError, OSError) as e:
            self.ctx.error(f"{e}")
            return
        self.refresh_model()
        self.ctx.info(f"the project now segments with {path}")

    def load_results(self) -> None:
        """Read the whole-video result of the project's frames (if any) in a worker."""
        out = self.result_dir()
        if out is None or not is_result(out):
            self._result = None
            return
        self._result_loading = True

        def done(r):
            self._result_loading = False
            self._result = r
            if self.index >= 0:
                self.show_frame(self.nav.value())  # the frame asked for last, not the one last shown

        def bad(msg):
            self._result_loading = False
            self.ctx.warn(f"earlier results in {out} could not be read: {msg}. Segment the video again with "
                          "'start over' ticked.")

        start_job(lambda _p, _s: ResultIndex(out), on_finished=done, on_failed=bad, parent=self)

    def show_frame(self, i: int) -> None:
        src = self.ctx.frames()
        if src is None or not 0 <= i < len(src) or self._closed:
            return
        result = self._result

        def load():
            frame, stored, problem = src[i], None, ""
            if result is not None and result.has_frame(i):
                try:
                    stored = result.view(i, frame)
                except DislocError as e:  # a damaged mask file: show the frame, say what to do
                    problem = f"{e}. Segment this frame again (F5)."
            return i, frame, stored, problem

        self._loader.submit(load)

    def _on_frame_loaded(self, _rid: int, value) -> None:
        i, frame, stored, problem = value
        src = self.ctx.frames()
        if src is None:
            return
        if problem:
            self.ctx.warn(problem)
        self.index, self.image = i, frame
        view = self._views.get(i) or stored
        self.view = view
        self.nav.show_position(i, len(src), src.frame_time(i), src.name(i))
        self._display()
        self.frameShown.emit(i)
        if view is None and self.auto_box.isChecked():
            self.segment_frame()

    # -- segmenting one frame ------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the model and post-processing in the background when the panel is shown: the first F5 is quick."""
        if self.model_path is None or self._segmenter.busy:
            return
        models = self.models_in_use()
        if self.predictor.loaded_paths != [str(m) for m in models]:
            self._segmenter.submit(lambda: self.predictor.warm(models))

    def segment_frame(self) -> None:
        """Segment the frame on screen in a worker; the result replaces the stored one on screen."""
        if self.image is None:
            self.ctx.info("no frame to segment: choose the project's frames first (File > Set frames)")
            return
        if self.model_path is None:
            self.refresh_model()
            if self.model_path is None:
                self.ctx.warn(self.model_label.toolTip())
                return
        try:
            scale = self.form.scale_setting()
            cfg = self.postprocess_config()
        except DislocError as e:
            self.ctx.error(f"{e}")
            return
        i, frame, models = self.index, self.image, self.models_in_use()
        path = models if len(models) > 1 else models[0]  # several: pooled, as the whole-video run
        self.status.setText(f"segmenting frame {i}…")

        mirrors = self.form.mirror_count()
        self._segmenter.submit(lambda: self.predictor.view(i, frame, path, scale, cfg, mirrors))

    def postprocess_config(self) -> PostprocessConfig:
        """Post-processing settings from the panel (the rest: core's defaults)."""
        return self.form.postprocess_config()

    def show_probs(self, probs: np.ndarray, index: Optional[int] = None) -> FrameView:
        """Show given probabilities (N, H, W) for the frame on screen as if the model had produced them."""
        i = self.index if index is None else index
        view = view_from_probs(i, self.image, probs, self.postprocess_config())
        self._on_segmented(view)
        return view

    def _on_segmented(self, view: FrameView) -> None:
        self._views[view.index] = view
        while len(self._views) > MAX_CACHED_VIEWS:
            self._views.pop(next(iter(self._views)))
        self.status.setText(f"frame {view.index}: {len(view)} dislocations, {view.n_merged()} with merged "
                            f"duplicates, {sum(view.flagged(k) for k in range(len(view)))} flagged, "
                            f"{view.seconds:.2f} s")
        if view.index == self.index:
            self.view = view
            self._display()
        self.segmented.emit(view.index)

    def _segment_failed(self, msg: str) -> None:
        self.status.setText("")
        hint = self.pool_hint(msg) or " Choose another model (Choose model…) or train one in the Train panel."
        self.ctx.error(f"segmenting frame {self.index} failed: {msg}.{hint}")

    # -- display ------------------------------------------------------------------------------
    def _display(self) -> None:
        if self.image is None:
            return
        self.pane.set_image(self.image)
        self.pane.set_units(self.ctx.units())
        v = self.view
        self.inspector.show_view(v)
        if v is None:
            self.overlay.clear()
        elif self.inspector.raw and v.probs is not None:
            raw, colours, _fates = raw_layers(v)
            self.overlay.set_content(raw, [None] * len(raw), [str(c) for c in range(len(raw))], colours)
            self._select(-1)
            return
        else:
            self.overlay.set_content(v.masks, v.curves(), [str(i) if i else "?" for i in v.ids], v.colours(),
                                     [v.flagged(k) for k in range(len(v))])
        n = len(v) if v is not None else 0
        if not 0 <= self.selected < n:  # nothing chosen yet: the longest line, the most telling curvature
            lengths = [s.length_px if s is not None else 0.0 for s in v.splines] if n else []
            self.selected = int(np.argmax(lengths)) if n else -1
        self._select(self.selected)

    def select(self, k: int) -> None:
        """Select dislocation ``k`` of the frame on screen (-1: none); not in the raw view."""
        if not self.inspector.raw:
            self._select(k)

    def _select(self, k: int) -> None:
        v = self.view
        self.selected = k if v is not None and 0 <= k < len(v) else -1
        self.overlay.select(self.selected)
        self.inspector.show_dislocation(v, self.selected, self.ctx.units())

    # -- human in the loop -------------------------------------------------------------------------
    def edit_as_annotation(self) -> None:
        """Emit the prediction of the frame on screen as support points (6-10 per dislocation)."""
        v = self.view
        if v is None or not len(v):
            self.ctx.info("nothing to edit: segment this frame first (F5)")
            return
        pts = [support_points(s) for s in v.splines if s is not None]
        if not pts:
            self.ctx.info("no dislocation of this frame is long enough for a spline")
            return
        self.annotateRequested.emit(v.index, pts)

    def shutdown(self) -> None:
        self._closed = True  # a result read in a worker may still arrive: it must not start new jobs
        if self.running:
            self.job.cancel()
            self.job.wait()
        self._loader.stop()
        self._segmenter.stop()
