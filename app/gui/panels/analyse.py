"""Analyse and export: tracks across frames, results per dislocation, pair distances against time, exports.

Reads a segmentation folder (written by the Segment panel or ``disloc
segment``); distances, per-dislocation results and files come from
core.analysis (tracking, measure, export), so the app and ``disloc track``
write the same pair_distances.csv/.png. Lengths are in nm and times in s
whenever the pixel size and frame rate are known (the project's, for a
result of the project's frames; else the result's own).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from core.analysis.measure import DislocationRow, default_min_frames, measure_dislocations
from core.analysis.results import ResultIndex, list_results
from core.analysis.units import Units
from core.colors import colour_of
from core.errors import DislocError

from ..actions import make_action
from ..context import AppContext
from ..widgets.curves import PairPlot
from ..widgets.dislotable import DislocationTable
from ..widgets.framenav import FrameNavigator
from ..widgets.imagepane import ImagePane
from ..widgets.jobbar import JobBar
from ..widgets.overlay import DislocationOverlay
from ..widgets.spline_editor import make_colour_icon
from ..workers import Job, LatestOnly, start_job
from .analyse_export import EXPORTS, ResultExports
from .analyse_pairs import PairChoice

MIN_TRAJECTORY_FRAMES = 3


class AnalysePanel(QtWidgets.QWidget, ResultExports, PairChoice):
    """One segmentation result: its frames with track ids, results per dislocation, pairs and their distances.

    Signals
    -------
    loaded(str)
        A result folder has been read.
    frameShown(int)
        A frame with its dislocations is on screen.
    """

    loaded = QtCore.Signal(str)
    frameShown = QtCore.Signal(int)
    title = "Analyse"

    def __init__(self, ctx: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.result: Optional[ResultIndex] = None
        self.measures: dict[int, list[DislocationRow]] = {}  # per frame
        self.frames_seen: dict[int, int] = {}  # per track
        self.pairs: list[tuple[int, int]] = []
        self.rows: list[tuple] = []
        self.index = -1
        self.frame_ids: list[int] = []
        self._pending: Optional[int] = None
        self._src = None
        self._shown = None  # (frame, view) on screen, redrawn when the filter changes
        self._closed = False
        self._loading = False
        self.job: Optional[Job] = None
        self._loader = LatestOnly(self)
        self._loader.result.connect(self._on_frame_loaded)
        self._loader.failed.connect(lambda _r, m: self.ctx.error(f"{m}. Go to another frame; the rest works."))
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(lambda _p: self.refresh_results())
        ctx.unitsChanged.connect(lambda _u: self._on_units())

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.combo = QtWidgets.QComboBox()
        self.combo.setToolTip("Segmentation results of the project (results/)")
        self.combo.setMinimumWidth(160)
        self.combo.activated.connect(lambda _i: self.open_result(self.combo.currentData()))
        open_btn = QtWidgets.QPushButton("Open folder…")
        open_btn.setToolTip("Open any folder written by 'disloc segment'")
        open_btn.clicked.connect(self._open_dialog)
        self.min_frames = QtWidgets.QSpinBox()
        self.min_frames.setRange(1, 1)
        self.min_frames.setSuffix(" frames")
        self.min_frames.setToolTip("Hide tracks seen in fewer frames than this: fragments found once or twice. "
                                   "It starts at a fifth of the longest track's frames, at most 3 (1 for short videos).")
        self.min_frames.valueChanged.connect(lambda _v: self._apply_filter())
        head = QtWidgets.QHBoxLayout()
        head.addWidget(QtWidgets.QLabel("Result"))
        head.addWidget(self.combo, 1)
        head.addWidget(open_btn)
        head.addSpacing(12)
        head.addWidget(QtWidgets.QLabel("Hide tracks seen in fewer than"))
        head.addWidget(self.min_frames)
        self.pane = ImagePane()
        self.pane.pixelHovered.connect(self.ctx.pixel)
        self.overlay = DislocationOverlay(self.pane, self)
        self.overlay.picked.connect(self._on_pick)
        self.nav = FrameNavigator("Frame (Page Up / Page Down); the plot's cursor and the table follow, and dragging "
                                  "the cursor moves here", label_width=150)
        self.nav.frameChanged.connect(self.show_frame)
        self.slider = self.nav.slider  # tests move it
        self.traj_box = QtWidgets.QCheckBox("Trajectories")
        self.traj_box.setToolTip("The path of each dislocation's midpoint over all frames")
        self.traj_box.setChecked(False)  # off at first: over the lines they hide what they follow
        self.traj_box.toggled.connect(lambda _on: self._apply_filter())
        self.trajectories: list[pg.PlotDataItem] = []
        self.traj_ids: list[int] = []
        self.nav.add_widget(self.traj_box)
        self.plot = PairPlot()
        self.plot.cursorMoved.connect(lambda f: self.nav.set_value(max(0, min(f, self.nav.maximum()))))
        self.table = DislocationTable()
        self.table.picked.connect(self._pick_id)
        self.table_title = QtWidgets.QLabel("<b>Dislocations in this frame</b>")
        tbox = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(tbox)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table_title)
        tl.addWidget(self.table, 1)
        bottom = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        bottom.addWidget(self.plot)
        bottom.addWidget(tbox)
        bottom.setSizes([440, 500])
        top = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.pane, 1)
        tl.addWidget(self.nav)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([400, 230])
        split.setChildrenCollapsible(False)
        left = QtWidgets.QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addLayout(head)
        left.addWidget(split, 1)
        leftw = QtWidgets.QWidget()
        leftw.setLayout(left)

        self.tracks = QtWidgets.QTreeWidget()
        self.tracks.setHeaderLabels(["id", "frames", "first–last"])
        self.tracks.setRootIsDecorated(False)
        self.tracks.setToolTip("Dislocations followed across frames; click one to use it in a pair")
        self.tracks.itemClicked.connect(lambda it, _c: self._pick_id(int(it.data(0, QtCore.Qt.ItemDataRole.UserRole))))
        self.hint = QtWidgets.QLabel("Click two dislocations (on the image or in the list) to plot their distance.")
        self.hint.setWordWrap(True)
        self.pair_list = QtWidgets.QListWidget()
        self.pair_list.setMaximumHeight(90)
        auto_btn = QtWidgets.QPushButton("Leading three")
        auto_btn.setToolTip("Pairs (1, 2), (2, 3) of the three leading dislocations of the largest pileup")
        auto_btn.clicked.connect(self.auto_pairs)
        rm_btn = QtWidgets.QPushButton("Remove pair")
        rm_btn.clicked.connect(self.remove_selected_pair)
        clear_btn = QtWidgets.QPushButton("Clear")
        clear_btn.clicked.connect(lambda: self.set_pairs([]))
        prow = QtWidgets.QHBoxLayout()
        for b in (auto_btn, rm_btn, clear_btn):
            prow.addWidget(b)
        ex = QtWidgets.QGroupBox("Export")
        el = QtWidgets.QGridLayout(ex)
        self.export_buttons = {}
        for n, (key, text, tip) in enumerate(EXPORTS):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _c=False, k=key: self.export_dialog(k))
            el.addWidget(b, n // 2, n % 2)
            self.export_buttons[key] = b
        # Reading a result and the overlay export report here; the export stops with the panel.
        self.job_bar = JobBar(stacked=True, cancel=False)
        self.status = self.job_bar.status
        el.addWidget(self.job_bar, 4, 0, 1, 2)
        side = QtWidgets.QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        self.tracks_label = QtWidgets.QLabel("<b>Tracks</b>")
        side.addWidget(self.tracks_label)
        side.addWidget(self.tracks, 2)
        side.addWidget(QtWidgets.QLabel("<b>Pairs</b>"))
        side.addWidget(self.hint)
        side.addWidget(self.pair_list)
        side.addLayout(prow)
        side.addWidget(ex)
        sidew = QtWidgets.QWidget()
        sidew.setLayout(side)
        sidew.setMinimumWidth(260)
        main = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        main.addWidget(leftw)
        main.addWidget(sidew)
        main.setStretchFactor(0, 1)
        main.setChildrenCollapsible(False)
        main.setSizes([990, 280])
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(main)

    def _build_actions(self) -> None:
        A = make_action
        self.act_auto = A(self, "&Leading three", "L", "Pairs of the three leading dislocations", self.auto_pairs)
        self.act_remove = A(self, "&Remove pair", ["Delete", "Backspace"], "Remove the selected pair",
                            self.remove_selected_pair)
        self.act_prev = A(self, "&Previous frame", "PgUp", "", lambda: self.nav.step(-1))
        self.act_next = A(self, "&Next frame", "PgDown", "", lambda: self.nav.step(1))
        self.act_export = A(self, "&Export pair distances…", "Ctrl+E", "pair_distances.csv and .png",
                            lambda: self.export_dialog("pairs"))

    def menu_actions(self) -> dict[str, list]:
        return {"Analyse": [self.act_auto, self.act_remove, None, self.act_prev, self.act_next, None, self.act_export]}

    def set_active(self, active: bool) -> None:
        for a in self.menu_actions()["Analyse"]:
            if a is not None:
                a.setEnabled(active)
        if active and self.result is None and not self._loading:
            self.refresh_results()

    def is_ready(self) -> bool:
        return not self._loading and not self._loader.busy and (self.result is None or self.index >= 0)

    # -- results ----------------------------------------------------------------------------
    def result_folders(self) -> list[Path]:
        p = self.ctx.project
        return [] if p is None else list_results(p.results_dir)

    def refresh_results(self, select: Optional[str] = None) -> None:
        """List the project's results; open ``select`` (or the current one, or the project frames' one)."""
        folders = self.result_folders()
        current = select or (str(self.result.out) if self.result else None)
        p = self.ctx.project
        if current is None and p is not None and p.frames_path is not None:
            mine = p.frames_result_dir
            current = str(mine) if mine in folders else None
        self.combo.blockSignals(True)
        self.combo.clear()
        for d in folders:
            self.combo.addItem(d.name, str(d))
        if current and Path(current) not in folders and Path(current).is_dir():
            self.combo.addItem(Path(current).name, current)
        self.combo.blockSignals(False)
        if not self.combo.count():
            self._set_result(None)
            self.hint.setText("No results yet: segment the whole video in the Segment panel "
                              "(or run 'disloc segment'), then come back here.")
            return
        i = max(0, self.combo.findData(current)) if current else 0
        self.combo.setCurrentIndex(i)
        self.open_result(self.combo.itemData(i))

    def _open_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a segmentation folder (with splines.csv)",
                                                       str(self.ctx.project.results_dir) if self.ctx.project else "")
        if d:
            self.refresh_results(select=d)

    def open_result(self, folder) -> None:
        """Read a segmentation folder in a worker, then show it."""
        if not folder:
            return
        self._loading = True
        self.status.setText(f"reading {folder}…")

        def bad(msg):
            self._loading = False
            self.status.setText("")
            self.ctx.error(f"{msg}. Choose another result, or segment the video again in the Segment panel.")

        def read(_p, _s):  # in the worker: the folder and the per-dislocation results
            r = ResultIndex(folder)
            return r, measure_dislocations(r.cols)

        start_job(read, on_finished=self._set_result, on_failed=bad, parent=self)

    def units(self) -> Units:
        """Pixel size and frame rate of the result: the project's for its own frames, else the run's."""
        r, p = self.result, self.ctx.project
        if r is None or (p is not None and p.frames_path is not None and r.input
                         and Path(r.input).resolve() == p.frames_path.resolve()):
            return self.ctx.units()
        return Units(r.pixel_size_nm, r.fps)

    def _on_units(self) -> None:
        u = self.units()
        self.pane.set_units(u)
        self.plot.set_units(u)
        self.set_pairs(self.pairs)
        if self._shown is not None:
            self._draw_frame(*self._shown)

    def _set_result(self, value) -> None:
        r, measured = value if value is not None else (None, [])
        self._loading = False
        self.status.setText("")
        if self._src is not None:
            self._loader.stop()  # a frame may be being read from the source we close
            self._src.close()
            self._src = None
        same = r is not None and self.result is not None and r.out == self.result.out
        self.result = r
        self._shown = None
        self.measures = {}
        for row in measured:
            self.measures.setdefault(row.frame, []).append(row)
        self.frames_seen = {tid: len(fr) for tid, fr in r.curves.items()} if r is not None else {}
        self.tracks.clear()
        for it in self.trajectories:
            self.pane.vb.removeItem(it)
        self.trajectories, self.traj_ids = [], []
        if r is None:
            self.overlay.clear()
            self.set_pairs([])
            self.table.set_rows([], self.units())
            return
        u = self.units()
        self.pane.set_units(u)
        self.plot.set_units(u)
        with QtCore.QSignalBlocker(self.min_frames):
            self.min_frames.setRange(1, max(1, r.frames_done))
            self.min_frames.setValue(default_min_frames(self.frames_seen.values()))
        for tid, n, first, last in r.tracks():
            it = QtWidgets.QTreeWidgetItem([str(tid), str(n), f"{first}–{last}"])
            it.setIcon(0, make_colour_icon(colour_of(tid)))
            it.setData(0, QtCore.Qt.ItemDataRole.UserRole, tid)
            self.tracks.addTopLevelItem(it)
        for c in range(3):
            self.tracks.resizeColumnToContents(c)
        self._draw_trajectories()
        try:
            from core.io.frames import open_frames

            self._src = open_frames(r.input)
        except DislocError as e:
            self.ctx.warn(f"{e}: the frames of {r.out} cannot be shown (curves are drawn on grey); "
                          "put the input back to see them")
        n = max(1, r.frames_done)
        self.nav.set_count(n)
        self.plot.set_frames(r.frames_done)
        kept = [p for p in self.pairs if p[0] in r.curves and p[1] in r.curves] if same else []
        self.set_pairs(kept)
        if not kept:  # start where 'disloc track' starts: the leading three of the largest pileup
            self.set_pairs(self._auto(r))
        self.hint.setText(f"{len(r.curves)} tracks over {r.frames_done} frames"
                          + (" (plotted: the leading three)" if self.pairs and not kept else "")
                          + ". Click two dislocations (on the image or in the list) to add a pair.")
        self._apply_filter()
        self.loaded.emit(str(r.out))
        self.show_frame(min(max(self.nav.value(), 0), n - 1))

    # -- the track filter ----------------------------------------------------------------------
    def shown_ids(self) -> set[int]:
        """Tracks seen in at least as many frames as the filter asks."""
        m = self.min_frames.value()
        return {t for t, n in self.frames_seen.items() if n >= m}

    def shown_measures(self, frame: Optional[int] = None) -> list[DislocationRow]:
        """Per-dislocation rows of the tracks the filter shows: of one frame, or of all frames."""
        ids = self.shown_ids()
        frames = [frame] if frame is not None else sorted(self.measures)
        return [row for f in frames for row in self.measures.get(f, []) if row.dislocation_id in ids]

    def _apply_filter(self) -> None:
        ids = self.shown_ids()
        for i in range(self.tracks.topLevelItemCount()):
            it = self.tracks.topLevelItem(i)
            it.setHidden(int(it.data(0, QtCore.Qt.ItemDataRole.UserRole)) not in ids)
        for tid, it in zip(self.traj_ids, self.trajectories):
            it.setVisible(self.traj_box.isChecked() and tid in ids)
        n_hidden = len(self.frames_seen) - len(ids)
        self.tracks.setToolTip("Dislocations followed across frames; click one to use it in a pair"
                               + (f". {n_hidden} seen in fewer than {self.min_frames.value()} frames are hidden "
                                  "(the filter above)" if n_hidden else ""))
        self.tracks_label.setText("<b>Tracks</b>" + (f" ({n_hidden} fragments hidden)" if n_hidden else ""))
        if self._shown is not None:
            self._draw_frame(*self._shown)

    def _draw_trajectories(self) -> None:
        """Each track's midpoint (the middle one of its 50 spline points) over the frames, with a dot per frame."""
        for tid, frames in self.result.curves.items():
            if len(frames) < MIN_TRAJECTORY_FRAMES:
                continue  # a fragment seen once or twice has no path worth drawing
            mid = np.array([frames[f][len(frames[f]) // 2] for f in sorted(frames)])
            col = (*colour_of(tid), 200)
            it = pg.PlotDataItem(mid[:, 0], mid[:, 1], pen=pg.mkPen(col, width=1), symbol="o", symbolSize=3,
                                 symbolPen=None, symbolBrush=col)
            it.setZValue(8)
            it.setVisible(self.traj_box.isChecked())
            self.pane.vb.addItem(it)
            self.trajectories.append(it)
            self.traj_ids.append(tid)

    # -- frames ------------------------------------------------------------------------------
    def show_frame(self, i: int) -> None:
        r, src = self.result, self._src
        if r is None or self._closed:
            return
        self.plot.set_cursor(i)

        def load():
            if src is not None:
                image = src[i]
            else:  # the input is gone: draw on grey of the masks' size
                shape = r.masks(i).shape[1:] if r.has_frame(i) else (512, 512)
                image = np.full(shape, 0.5, np.float32)
            return i, r.view(i, image) if r.has_frame(i) else None, image

        self._loader.submit(load)

    def _on_frame_loaded(self, _rid: int, value) -> None:
        i, view, image = value
        if self.result is None:
            return
        self.index = i
        self.pane.set_image(image)
        self._shown = (i, view)
        self._draw_frame(i, view)
        self.plot.set_cursor(i)
        self.frameShown.emit(i)

    def _draw_frame(self, i: int, view) -> None:
        """The dislocations of frame ``i`` that the filter shows: overlay, table, position."""
        r = self.result
        shown = self.shown_ids()
        ids, curves = r.frame_curves(i)
        keep = [k for k, d in enumerate(ids) if d in shown]
        ids, curves = [ids[k] for k in keep], [curves[k] for k in keep]
        masks = None
        if view is not None:  # masks in the order of the curves' ids
            by_id = {d: view.masks[k] for k, d in enumerate(view.ids) if d}
            masks = np.stack([by_id[d] for d in ids]) if ids and all(d in by_id for d in ids) else None
        self.frame_ids = ids
        self.overlay.set_content(masks, curves, [str(d) for d in ids], [colour_of(d) for d in ids])
        if self._pending in ids:
            self.overlay.select(ids.index(self._pending))
        self.nav.show_position(i, r.frames_done, self.units().time_s(i))
        self._show_table()

    def _show_table(self) -> None:
        u, i = self.units(), self.index
        rows = self.shown_measures(i)
        hidden = len(self.measures.get(i, [])) - len(rows)
        t = u.time_s(i)
        self.table_title.setText(f"<b>Dislocations in frame {i}</b>" + (f" (t = {t:.3f} s)" if t is not None else "")
                                 + (f"; {hidden} fragment(s) hidden" if hidden else ""))
        self.table.set_rows(rows, u)

    def shutdown(self) -> None:
        self._closed = True  # a result read in a worker may still arrive: it must not start new jobs
        if self.job is not None and not self.job.is_done:
            self.job.cancel()
            self.job.wait()
        self._loader.stop()
        if self._src is not None:
            self._src.close()
            self._src = None
