"""The Designer's files: presets (chooser, load, save), datasets (Generate), backgrounds cut from the frames.

A mixin of :class:`app.gui.panels.designer.DesignerPanel`, which owns the
widgets and the :class:`~app.gui.panels.designer_state.DesignerState`.
Long work runs in workers: a dataset in :class:`app.gui.dialogs.GenerateDialog`,
background crops (:func:`core.synth.harvest.harvest_backgrounds`) with the
panel's job bar (progress, Cancel).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from core.errors import DislocError
from core.synth import PARAM_SPECS, Preset, list_presets, load_preset, sample_params, save_preset

from ..dialogs import GenerateDialog
from ..workers import start_job
from .designer_state import DesignerState, slider_span

OTHER = "__other__"
HARVEST_DIR = "from_frames"  # backgrounds/<this>: crops cut from the project's frames


class DesignerFiles:
    """Presets, datasets and harvested backgrounds; needs the panel's state, form, ctx and job bar."""

    # -- the preset chooser -------------------------------------------------------------------------------
    def _fill_presets(self) -> None:
        """Built-in presets, then the project's presets/, then "Other file…"."""
        with QtCore.QSignalBlocker(self.preset_combo):
            self.preset_combo.clear()
            for name in list_presets():
                self.preset_combo.addItem(name, name)
            pr = self.ctx.project
            if pr is not None and pr.presets_dir.is_dir():
                for f in sorted(pr.presets_dir.glob("*.json")):
                    self.preset_combo.addItem(f"{f.stem} (project)", str(f))
            self.preset_combo.addItem("Other file…", OTHER)
        self._show_preset_choice()

    def _show_preset_choice(self) -> None:
        p = self.state.preset
        i = self.preset_combo.findText(p.name) if p is not None else -1
        if i < 0 and p is not None:
            i = self.preset_combo.findText(f"{p.name} (project)")
        with QtCore.QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(max(i, 0) if p is not None else -1)

    def _on_preset_chosen(self, i: int) -> None:
        data = self.preset_combo.itemData(i)
        if data == OTHER:
            self._show_preset_choice()
            self.load_preset_dialog()
        elif data:
            self.load_preset(data)

    def choose_preset(self, name: str) -> Optional[Preset]:
        """Choose a preset of the chooser by its name (what picking it in the list does)."""
        i = self.preset_combo.findData(name)
        if i < 0:
            raise DislocError(f"preset '{name}' is not in the list")
        self.preset_combo.setCurrentIndex(i)
        self._on_preset_chosen(i)
        return self.state.preset if self.state.preset is not None and self.state.preset.name == name else None

    # -- preset files ---------------------------------------------------------------------------------------
    def _presets_dir(self) -> str:
        return str(self.ctx.project.presets_dir) if self.ctx.project else ""

    def save_preset_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save preset", self._presets_dir(), "Preset (*.json)")
        if path:
            self.save_preset(path)

    def save_preset(self, path) -> Path:
        path = Path(path).with_suffix(".json")
        preset = self.state.tuned_preset(path.stem)
        save_preset(preset, path)
        self.ctx.info(f"preset saved to {path}")
        return path

    def load_preset_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load preset", self._presets_dir(), "Preset (*.json)")
        if path:
            self.load_preset(path)

    def load_preset(self, path) -> Optional[Preset]:
        """Load a preset; a bad file gives a message and leaves the current one in place."""
        try:
            preset = load_preset(str(path))
            params = sample_params(preset, self.state.seed)
        except DislocError as e:
            self.ctx.error(f"{e}. Fix the preset file or load another; the current settings are kept.")
            return None
        self.state = DesignerState(params=params, preset=preset, seed=self.state.seed)
        self.twin_label = None
        for n, spec in PARAM_SPECS.items():
            if n in self.form.rows and spec.kind in ("int", "float"):
                self.form.set_span(n, *slider_span(n, preset, params.size))
        self._show_values()
        self._show_preset_choice()
        self.ctx.info(f"preset {preset.name} loaded" + (f" from {path}" if str(path) != preset.name else ""))
        self.request_render()
        return preset

    def generate_dialog(self) -> GenerateDialog:
        out = (self.ctx.project.datasets_dir if self.ctx.project else Path.home()) / "synthetic"
        if self._dialog is None or not self._dialog.isVisible():
            self._dialog = GenerateDialog(self._write_dataset, out, self.state.params.size, self)
            self._dialog.done.connect(lambda f: self.ctx.info(f"dataset written to {f}"))
            self._dialog.stopped.connect(lambda m: self.ctx.warn(f"dataset generation stopped: {m}"))
        self._dialog.show()
        self._dialog.raise_()
        return self._dialog

    def _write_dataset(self, count, size, out, seed, on_progress, should_stop):
        """Runs in the worker: the tuned preset, drawn ``count`` times (core.synth.writer)."""
        from core.synth.writer import write_dataset

        preset = self.state.tuned_preset()
        return write_dataset(out, preset, count, seed, size=size, on_progress=on_progress, should_stop=should_stop)


    # -- backgrounds from the user's frames ------------------------------------------------------------------
    @property
    def harvesting(self) -> bool:
        return self.harvest_job is not None and not self.harvest_job.is_done

    def harvest_backgrounds(self, out: Optional[Path] = None) -> Optional[Path]:
        """Cut dislocation-free crops from the project's frames in a worker; then draw on them (patches).

        Frames with an annotation are cut away from the traced lines, the
        others where no line-like feature is (core.synth.harvest). Returns
        the folder the crops go to, or None when there are no frames.
        """
        pr, src = self.ctx.project, self.ctx.frames()
        if pr is None or src is None or pr.frames_path is None:
            self.ctx.warn("open a project with frames first (File > Set frames, or drop a video on the window)")
            return None
        if self.harvesting:
            return None
        from core.synth.harvest import harvest_backgrounds

        out = Path(out) if out is not None else pr.backgrounds_dir / HARVEST_DIR
        frames = pr.frames_path
        annotations = pr.annotations_dir if pr.annotated_frames() else None
        self.harvest_bar.start(min(30, len(src)), "cutting background crops from your frames…")
        self.harvest_bar.setVisible(True)
        self.harvest_btn.setEnabled(False)

        def progress(p):
            eta = self.harvest_bar.show_progress(p)
            self.harvest_bar.set_status(f"frame {p.step}/{p.total}, {p.metrics.get('crops', 0)} crops   "
                                        f"{self.harvest_bar.eta_text(eta)}")

        def done(report):
            self._harvest_ended(None)
            self.state.params = self.state.params.replace(background="patches", patch_dir=str(report.out))
            self._show_values()
            self.request_render()
            self.ctx.info(f"{len(report.files)} background crops from {report.frames} frames in {report.out} "
                          "(frames with annotations cut away from the traced lines); the synthetic images are now "
                          "drawn on them")

        self.harvest_job = start_job(
            lambda on_p, stop: harvest_backgrounds(frames, out, annotations=annotations, on_progress=on_p,
                                                   should_stop=stop),
            on_finished=done, on_failed=self._harvest_ended, on_progress=progress, parent=self)
        return out

    def _harvest_ended(self, error: Optional[str]) -> None:
        self.harvest_btn.setEnabled(True)
        self.harvest_bar.stop("")
        self.harvest_bar.setVisible(False)
        if error == "stopped":
            self.ctx.info("cutting backgrounds stopped; the crops cut so far are kept")
        elif error is not None:
            self.ctx.error(f"no background crops: {error}")

    def cancel_harvest(self) -> None:
        if self.harvesting:
            self.harvest_job.cancel()
            self.harvest_bar.set_status("stopping…")
