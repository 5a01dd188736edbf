"""Analyse and export: tracks across frames, pair distances against frame number, exports.

Reads a segmentation folder (written by the Segment panel or ``disloc
segment``); distances and files come from core.analysis.tracking and core.analysis.export,
so the app and ``disloc track`` write the same pair_distances.csv/.png.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from core.analysis.results import PAIRS_CSV, ResultIndex, list_results, write_pairs
from core.colors import colour_of
from core.errors import DislocError
from core.io.fileio import atomic_write_bytes

from ..actions import make_action
from ..context import AppContext
from ..widgets.curves import PairPlot
from ..widgets.framenav import FrameNavigator
from ..widgets.imagepane import ImagePane
from ..widgets.jobbar import JobBar
from ..widgets.overlay import DislocationOverlay
from ..widgets.spline_editor import make_colour_icon
from ..workers import Job, LatestOnly, start_job

MIN_TRAJECTORY_FRAMES = 3


def pair_colour(k: int) -> tuple[int, int, int]:
    """Colour of the k-th pair in the plot and the list (as in the plot 'disloc track' draws)."""
    from core.colors import color

    return color(k)


class AnalysePanel(QtWidgets.QWidget):
    """One segmentation result: its frames with track ids, chosen pairs and their distance plot.

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
        self.pairs: list[tuple[int, int]] = []
        self.rows: list[tuple] = []
        self.index = -1
        self.frame_ids: list[int] = []
        self._pending: Optional[int] = None
        self._src = None
        self._loading = False
        self.job: Optional[Job] = None
        self._loader = LatestOnly(self)
        self._loader.result.connect(self._on_frame_loaded)
        self._loader.failed.connect(lambda _r, m: self.ctx.error(f"{m}. Go to another frame; the rest works."))
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(lambda _p: self.refresh_results())

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.combo = QtWidgets.QComboBox()
        self.combo.setToolTip("Segmentation results of the project (results/)")
        self.combo.setMinimumWidth(200)
        self.combo.activated.connect(lambda _i: self.open_result(self.combo.currentData()))
        open_btn = QtWidgets.QPushButton("Open folder…")
        open_btn.setToolTip("Open any folder written by 'disloc segment'")
        open_btn.clicked.connect(self._open_dialog)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(QtWidgets.QLabel("Result"))
        head.addWidget(self.combo, 1)
        head.addWidget(open_btn)
        self.pane = ImagePane()
        self.pane.pixelHovered.connect(self.ctx.pixel)
        self.overlay = DislocationOverlay(self.pane, self)
        self.overlay.picked.connect(self._on_pick)
        self.nav = FrameNavigator("Frame (Page Up / Page Down); the plot's cursor follows, and dragging it moves here",
                                  label_width=160)
        self.nav.frameChanged.connect(self.show_frame)
        self.slider = self.nav.slider  # tests move it
        self.traj_box = QtWidgets.QCheckBox("Trajectories")
        self.traj_box.setToolTip("The path of each dislocation's midpoint over all frames")
        self.traj_box.setChecked(False)  # off at first: over the lines they hide what they follow
        self.traj_box.toggled.connect(lambda on: [it.setVisible(on) for it in self.trajectories])
        self.trajectories: list[pg.PlotDataItem] = []
        self.nav.add_widget(self.traj_box)
        self.plot = PairPlot()
        self.plot.cursorMoved.connect(lambda f: self.nav.set_value(max(0, min(f, self.nav.maximum()))))
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        top = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.pane, 1)
        tl.addWidget(self.nav)
        split.addWidget(top)
        split.addWidget(self.plot)
        split.setSizes([600, 300])
        left = QtWidgets.QVBoxLayout()
        left.addLayout(head)
        left.addWidget(split, 1)

        self.tracks = QtWidgets.QTreeWidget()
        self.tracks.setHeaderLabels(["id", "frames", "first–last"])
        self.tracks.setRootIsDecorated(False)
        self.tracks.setToolTip("Dislocations followed across frames; click one to use it in a pair")
        self.tracks.itemClicked.connect(lambda it, _c: self._pick_id(int(it.data(0, QtCore.Qt.ItemDataRole.UserRole))))
        self.hint = QtWidgets.QLabel("Click two dislocations (on the image or in the list) to plot their distance.")
        self.hint.setWordWrap(True)
        self.pair_list = QtWidgets.QListWidget()
        self.pair_list.setMaximumHeight(120)
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
        for n, (key, text, tip) in enumerate((
                ("splines", "Splines CSV…", "A copy of splines.csv: 50 points per dislocation and frame"),
                ("pairs", "Pair distances CSV…", "pair_distances.csv and .png, as 'disloc track' writes them"),
                ("png", "Plot PNG…", "The distance plot as a PNG image"),
                ("svg", "Plot SVG…", "The distance plot as an SVG drawing"),
                ("frames", "Overlay frames…", "Every frame with its coloured masks, as PNG files"),
                ("video", "Overlay video…", "Every frame with its coloured masks, as an MP4 video"))):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _c=False, k=key: self.export_dialog(k))
            el.addWidget(b, n // 2, n % 2)
            self.export_buttons[key] = b
        # Reading a result and the overlay export report here; the export stops with the panel.
        self.job_bar = JobBar(stacked=True, cancel=False)
        self.status = self.job_bar.status
        el.addWidget(self.job_bar, 3, 0, 1, 2)
        side = QtWidgets.QVBoxLayout()
        side.addWidget(QtWidgets.QLabel("<b>Tracks</b>"))
        side.addWidget(self.tracks, 2)
        side.addWidget(QtWidgets.QLabel("<b>Pairs</b>"))
        side.addWidget(self.hint)
        side.addWidget(self.pair_list)
        side.addLayout(prow)
        side.addWidget(ex)
        sidew = QtWidgets.QWidget()
        sidew.setLayout(side)
        sidew.setMinimumWidth(300)
        sidew.setMaximumWidth(400)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addWidget(sidew)

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

        start_job(lambda _p, _s: ResultIndex(folder), on_finished=self._set_result, on_failed=bad, parent=self)

    def _set_result(self, r: Optional[ResultIndex]) -> None:
        self._loading = False
        self.status.setText("")
        if self._src is not None:
            self._loader.stop()  # a frame may be being read from the source we close
            self._src.close()
            self._src = None
        same = r is not None and self.result is not None and r.out == self.result.out
        self.result = r
        self.tracks.clear()
        for it in self.trajectories:
            self.pane.vb.removeItem(it)
        self.trajectories = []
        if r is None:
            self.overlay.clear()
            self.set_pairs([])
            return
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
        self.loaded.emit(str(r.out))
        self.show_frame(min(max(self.nav.value(), 0), n - 1))

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

    # -- frames ------------------------------------------------------------------------------
    def show_frame(self, i: int) -> None:
        r, src = self.result, self._src
        if r is None:
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
        r = self.result
        if r is None:
            return
        self.index = i
        self.pane.set_image(image)
        ids, curves = r.frame_curves(i)
        masks = None
        if view is not None:  # masks in the order of the curves' ids
            by_id = {d: view.masks[k] for k, d in enumerate(view.ids) if d}
            masks = np.stack([by_id[d] for d in ids]) if ids and all(d in by_id for d in ids) else None
        self.frame_ids = ids
        self.overlay.set_content(masks, curves, [str(d) for d in ids], [colour_of(d) for d in ids])
        if self._pending in ids:
            self.overlay.select(ids.index(self._pending))
        self.nav.show_position(i, r.frames_done, r.times.get(i))
        self.plot.set_cursor(i)
        self.frameShown.emit(i)

    # -- pairs ---------------------------------------------------------------------------------
    def _on_pick(self, k: int) -> None:
        if 0 <= k < len(self.frame_ids):
            self._pick_id(self.frame_ids[k])

    def _pick_id(self, tid: int) -> None:
        """First pick: remember; second pick of another id: add the pair."""
        if self._pending is None or self._pending == tid:
            self._pending = tid
            self.hint.setText(f"dislocation {tid} chosen; click a second one to pair it")
            return
        a, self._pending = self._pending, None
        if (a, tid) in self.pairs or (tid, a) in self.pairs:
            self.hint.setText(f"pair {a}–{tid} is already plotted")
            return
        self.set_pairs(self.pairs + [(a, tid)])
        self.hint.setText(f"pair {a}–{tid} added. Click two more dislocations for another pair.")

    def auto_pairs(self) -> None:
        """The leading three of the largest pileup (core.analysis.tracking.auto_pairs)."""
        r = self.result
        if r is None:
            self.ctx.info("open a segmentation result first")
            return
        pairs = self._auto(r)
        if not pairs:
            self.ctx.warn(f"{r.out}: no pileup with two or more long-lived dislocations was found; "
                          "pick pairs by clicking two dislocations")
            return
        self.set_pairs(pairs)

    @staticmethod
    def _auto(r: ResultIndex) -> list[tuple[int, int]]:
        from core.analysis.tracking import auto_pairs

        return auto_pairs(r.curves, r.n_frames)

    def set_pairs(self, pairs) -> None:
        """Plot these pairs (id_a, id_b); distances from core.analysis.tracking.pair_distance_rows."""
        from core.analysis.tracking import pair_distance_rows

        self.pairs = [tuple(int(v) for v in p) for p in pairs]
        self.rows = []
        if self.result is not None and self.pairs:
            try:
                self.rows = pair_distance_rows(self.result.curves, self.result.times, self.pairs)
            except DislocError as e:
                self.ctx.warn(str(e))
                self.pairs = []
        self.pair_list.clear()
        colours = {p: pair_colour(k) for k, p in enumerate(sorted(self.pairs))}  # as core's PNG colours them
        for p in self.pairs:
            n = sum(1 for r in self.rows if (r[2], r[3]) == p)
            self.pair_list.addItem(QtWidgets.QListWidgetItem(make_colour_icon(colours[p]),
                                                             f"{p[0]} – {p[1]}    ({n} frames)"))
        self.plot.set_rows(self.rows, self.result.pixel_size_nm if self.result else None, colours)
        if self.index >= 0:
            self.plot.set_cursor(self.index)

    def remove_selected_pair(self) -> None:
        row = self.pair_list.currentRow()
        if 0 <= row < len(self.pairs):
            self.set_pairs(self.pairs[:row] + self.pairs[row + 1:])

    # -- export ----------------------------------------------------------------------------------
    def export_dialog(self, kind: str) -> None:
        r = self.result
        if r is None:
            self.ctx.info("open a segmentation result first")
            return
        QFD = QtWidgets.QFileDialog
        defaults = {"splines": ("Save splines CSV", r.out.parent / f"{r.out.name}_splines.csv", "CSV (*.csv)"),
                    "pairs": ("Save pair distances", r.out / PAIRS_CSV, "CSV (*.csv)"),
                    "png": ("Save plot", r.out / "pair_distances_plot.png", "PNG (*.png)"),
                    "svg": ("Save plot", r.out / "pair_distances_plot.svg", "SVG (*.svg)"),
                    "video": ("Save overlay video", r.out / "overlay.mp4", "MP4 video (*.mp4)")}
        if kind == "frames":
            d = QFD.getExistingDirectory(self, "Folder for the overlay frames", str(r.out))
            if d:
                self.export(kind, d)
            return
        title, default, filt = defaults[kind]
        path, _ = QFD.getSaveFileName(self, title, str(default), filt)
        if path:
            self.export(kind, path)

    def export(self, kind: str, path) -> Optional[Path]:
        """Write one export: splines, pairs, png, svg (at once) or frames, video (in a worker)."""
        r, path = self.result, Path(path)
        try:
            if kind == "splines":
                atomic_write_bytes(path, r.splines_csv.read_bytes())
            elif kind == "pairs":
                if not self.rows:
                    self.ctx.warn("no pairs chosen: click two dislocations or press Leading three, then export")
                    return None
                write_pairs(path, self.rows, r.pixel_size_nm)
            elif kind in ("png", "svg"):
                self.plot.export(str(path))
            elif kind in ("frames", "video"):
                self._export_overlays(path if kind == "frames" else None, path if kind == "video" else None)
                return path
            else:
                raise ValueError(kind)
        except (OSError, DislocError) as e:
            self.ctx.error(f"could not write {path}: {e}. Choose another place or free disk space.")
            return None
        self.ctx.info(f"written {path}")
        self.status.setText(f"written {path.name}")
        return path

    def _export_overlays(self, folder, video) -> None:
        from core.analysis.results import write_overlays

        if self.job is not None and not self.job.is_done:
            self.ctx.info("an overlay export is already running")
            return
        r = self.result
        self.job_bar.start(r.frames_done, "")

        def progress(p):
            eta = self.job_bar.show_progress(p)
            self.status.setText(f"overlays: {p.step}/{p.total}   {self.job_bar.eta_text(eta)}")

        def ended(msg, target=folder or video):
            self.job_bar.stop(hide=True)
            if msg is None:
                self.status.setText(f"overlays written to {target}")
                self.ctx.info(f"overlays written to {target}")
            else:
                self.status.setText("overlay export stopped" if msg == "stopped" else "overlay export failed")
                if msg != "stopped":
                    self.ctx.error(f"overlay export to {target} failed: {msg}")

        self.job = start_job(lambda on_p, stop: write_overlays(r, folder, video, on_p, stop),
                             on_finished=lambda _n: ended(None), on_failed=ended, on_progress=progress, parent=self)

    def shutdown(self) -> None:
        if self.job is not None and not self.job.is_done:
            self.job.cancel()
            self.job.wait()
        self._loader.stop()
        if self._src is not None:
            self._src.close()
            self._src = None
