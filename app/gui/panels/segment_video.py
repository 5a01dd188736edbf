"""The Segment panel's whole-video run: :func:`core.analysis.segment.segment_video` in a worker.

A mixin of :class:`app.gui.panels.segment.SegmentPanel`: the panel owns the
widgets (buttons, job bar, form) and the project; this part starts the
run with the form's settings and the project's calibration, reports
progress with an ETA, stops on Cancel (finished frames are kept and a new
run resumes) and tells the Analyse panel when it is done.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.analysis.results import STATE_FILE, read_raw_state, splines_path
from core.analysis.units import Units
from core.errors import DislocError

from ..workers import start_job
from .threads import set_torch_threads_once


class WholeVideoRun:
    """Segment whole video (Ctrl+F5), resume, cancel (Esc); needs the panel's widgets and ``videoDone``."""

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.is_done

    def segment_video(self) -> None:
        """Segment every frame in a worker with core.analysis.segment.segment_video (resumes unless 'start over')."""
        if self.running:
            return
        out, p = self.result_dir(), self.ctx.project
        if out is None:
            self.ctx.warn("choose the project's frames first (File > Set frames)")
            return
        self.refresh_model()
        if self.model_path is None:
            self.ctx.warn(self.model_label.toolTip())
            return
        try:
            config = self.form.config(restart=self.restart_box.isChecked(), units=self._run_units(out))
        except DislocError as e:
            self.ctx.error(f"{e}")
            return
        from core.analysis.segment import segment_video

        src_path, model = p.frames_path, self.models_in_use()  # several: pooled (core.analysis.pool)
        self.job_bar.start(len(self.ctx.frames() or []))
        for w in (self.video_btn, self.restart_box, self.pool_box, self.choose_btn):
            w.setEnabled(False)

        def work(on_progress, should_stop):
            set_torch_threads_once()
            return segment_video(src_path, model, out, config, on_progress, should_stop)

        self.job = start_job(
            work,
            on_finished=lambda r: self._video_ended(out, None, r), on_failed=lambda m: self._video_ended(out, m, None),
            on_progress=self._on_video_progress, parent=self)
        self.job.done.connect(lambda: self._video_job_done(out))

    def _run_units(self, out: Path) -> Units:
        """The project's pixel size and frame rate; a resumed run keeps those it started with.

        splines.csv has one header: nm columns cannot start halfway. The
        Analyse panel's exports fill in a calibration set since.
        """
        units = self.ctx.units()
        if self.restart_box.isChecked() or not (out / STATE_FILE).exists():
            return units
        try:
            state = read_raw_state(out)
            started = Units(state.get("pixel_size_nm"), state.get("fps"))
        except (DislocError, AttributeError):
            return units  # segment_video says what is wrong with the state file
        if started != units:
            self.ctx.info(f"resuming with the scale the run started with ({started.describe()}); tick 'start over' "
                          f"to segment with {units.describe()}. The Analyse panel shows and exports the new one.")
        return started

    def _on_video_progress(self, p) -> None:
        eta = self.job_bar.show_progress(p)
        self.status.setText(f"video: {p.step}/{p.total} frames   {self.job_bar.eta_text(eta)}")

    def _video_ended(self, out: Path, error: Optional[str], result) -> None:
        if error is None:
            self.restart_box.setChecked(False)
            self.status.setText(f"video done: {result.frames_done} frames, {result.n_tracks} tracks")
            self.ctx.info(f"whole video segmented: {splines_path(out)}; see the Analyse panel")
        elif error == "stopped":
            self.status.setText("stopped; run again to resume")
            self.ctx.info(f"segmentation stopped; finished frames are kept in {out}. Segment whole video resumes.")
        else:
            self.status.setText("failed")
            if "holds results of another run" in error and "model" in error:
                hint = (" The frames were segmented with other models ('with last.pt' ticked or not); set it as it "
                        "was to resume, or tick 'start over' and run again.")
            elif "--mirrors" in error and "--restart" in error:
                hint = " Set Mirrors as it was to resume, or tick 'start over' and run again."
            elif "earlier settings" in error:
                hint = " Set the boxes as they were to resume, or tick 'start over' and run again."
            else:
                hint = " Tick 'start over' and run again." if "--restart" in error else self.pool_hint(error)
            self.ctx.error(f"segmenting the video failed: {error}.{hint}")

    def _video_job_done(self, out: Path) -> None:
        """The worker thread has ended: another run may start; show the new results."""
        for w in (self.video_btn, self.restart_box, self.pool_box, self.choose_btn):
            w.setEnabled(True)
        self.job_bar.stop()
        self.load_results()
        self.videoDone.emit(str(out))

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self.status.setText("stopping after the current frame…")
