"""The Analyse panel's exports: splines, per-dislocation results and pair distances as CSV, the plot, overlays.

A mixin of :class:`app.gui.panels.analyse.AnalysePanel`. Files come from
core (the same as ``disloc track`` writes), in nm and s wherever the
pixel size and frame rate are known, also when they were set after the
video was segmented.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6 import QtWidgets

from core.analysis.export import write_splines_in_units
from core.analysis.measure import DISLOCATIONS_CSV, write_dislocations_csv
from core.analysis.results import PAIRS_CSV, write_pairs
from core.errors import DislocError
from core.io.fileio import atomic_write_bytes

from ..workers import start_job

EXPORTS = (
    ("splines", "Splines CSV…", "splines.csv: 50 points per dislocation and frame (nm columns when the pixel size "
                                "is known; tracks the filter hides are left out)"),
    ("dislocations", "Dislocations CSV…", "One row per dislocation and frame: length, mean |curvature|, centre, "
                                          "speed, frames seen (tracks the filter hides are left out)"),
    ("pairs", "Pair distances CSV…", "pair_distances.csv and .png, as 'disloc track' writes them"),
    ("png", "Plot PNG…", "The distance plot as a PNG image"),
    ("svg", "Plot SVG…", "The distance plot as an SVG drawing"),
    ("frames", "Overlay frames…", "Every frame with its coloured masks, as PNG files"),
    ("video", "Overlay video…", "Every frame with its coloured masks, as an MP4 video"),
)


class ResultExports:
    """Export dialogs and writers; needs the panel's ``result``, ``rows``, ``plot``, ``job_bar`` and ``units()``."""

    def export_dialog(self, kind: str) -> None:
        r = self.result
        if r is None:
            self.ctx.info("open a segmentation result first")
            return
        QFD = QtWidgets.QFileDialog
        defaults = {"splines": ("Save splines CSV", r.out.parent / f"{r.out.name}_splines.csv", "CSV (*.csv)"),
                    "dislocations": ("Save per-dislocation results", r.out / DISLOCATIONS_CSV, "CSV (*.csv)"),
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
        """Write one export: splines, dislocations, pairs, png, svg (at once) or frames, video (in a worker)."""
        r, path, u = self.result, Path(path), self.units()
        try:
            if kind == "splines":
                ids = self.shown_ids()
                every = len(ids) == len(self.frames_seen)
                if every and (r.pixel_size_nm, r.fps) == (u.pixel_size_nm, u.fps):
                    atomic_write_bytes(path, r.splines_csv.read_bytes())  # as segmented: a plain copy
                else:  # calibrated since (time_s and the nm columns filled), or tracks the filter hides left out
                    write_splines_in_units(r.splines_csv, path, u.pixel_size_nm, u.fps, None if every else ids)
            elif kind == "dislocations":
                write_dislocations_csv(path, self.shown_measures(), u)
            elif kind == "pairs":
                if not self.rows:
                    self.ctx.warn("no pairs chosen: click two dislocations or press Leading three, then export")
                    return None
                write_pairs(path, self.rows, u.pixel_size_nm)
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
