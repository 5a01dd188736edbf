"""Designer: tune a synthetic twin of your micrographs by eye.

Left, the generator's parameters (method §1) as sliders; centre, the
rendered image beside a real frame with both histograms and intensity
profiles. A slider move re-renders in a worker after a 50 ms pause
(debounce); only the newest request is shown.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from core.errors import DislocError
from core.synth import PARAM_SPECS, Preset, default_params, list_presets, load_preset, sample_params, save_preset

from ..actions import make_action, set_icons
from ..context import AppContext
from ..dialogs import GenerateDialog
from ..widgets.compare import CompareView
from ..widgets.params import ParamForm
from ..workers import LatestOnly
from .designer_state import GROUPS, DesignerState, render_preview, slider_span

DEBOUNCE_MS = 50


class DesignerPanel(QtWidgets.QWidget):
    """Parameters, live preview and comparison with a real frame.

    Signals
    -------
    previewShown(int)
        A rendered preview is on screen (its request id).
    """

    previewShown = QtCore.Signal(int)
    title = "Designer"

    def __init__(self, ctx: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        preset = load_preset("m2") if "m2" in list_presets() else None
        seed = 1
        # Start from a sample of the preset: a realistic scene rather than a bare default pileup.
        params = sample_params(preset, seed) if preset else default_params(512)
        self.state = DesignerState(params=params, preset=preset, seed=seed)
        self.twin_label = None  # labelme content of the twinned frame, or None
        self.shown_id = -1
        self.last_result: dict = {}
        self.last_request_time = 0.0
        self._renderer = LatestOnly(self)
        self._renderer.result.connect(self._on_rendered)
        self._renderer.failed.connect(lambda _rid, msg: self.ctx.error(f"preview failed: {msg}"))
        self._debounce = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.render_now)
        self._dialog: Optional[GenerateDialog] = None
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(self._on_project)
        self._show_values()
        self.request_render()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        size = self.state.params.size
        groups = [(t, [PARAM_SPECS[n] for n in names]) for t, names in GROUPS]
        spans = {n: slider_span(n, self.state.preset, size) for _, names in GROUPS for n in names
                 if PARAM_SPECS[n].kind in ("int", "float")}
        self.form = ParamForm(groups, spans)
        self.form.changed.connect(self.on_param_changed)

        top = QtWidgets.QGridLayout()
        self.preset_label = QtWidgets.QLabel()
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(self.state.seed)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setToolTip("Seed of the background texture, noise and random shapes")
        self.seed_spin.valueChanged.connect(self._on_seed)
        self.new_btn = QtWidgets.QPushButton("New sample")
        self.pileup_combo = QtWidgets.QComboBox()
        self.pileup_combo.setToolTip("Which pileup the slip system, pileup and drawing controls edit")
        self.pileup_combo.currentIndexChanged.connect(self._on_pileup_chosen)
        self.add_pile_btn = QtWidgets.QToolButton(text="+")
        self.add_pile_btn.setToolTip("Add a pileup (a copy of this one beside it)")
        self.add_pile_btn.clicked.connect(self.add_pileup)
        self.del_pile_btn = QtWidgets.QToolButton(text="−")
        self.del_pile_btn.setToolTip("Remove this pileup")
        self.del_pile_btn.clicked.connect(self.remove_pileup)
        top.addWidget(self.preset_label, 0, 0, 1, 4)
        top.addWidget(QtWidgets.QLabel("Seed"), 1, 0)
        top.addWidget(self.seed_spin, 1, 1)
        top.addWidget(self.new_btn, 1, 2, 1, 2)
        top.addWidget(QtWidgets.QLabel("Pileup"), 2, 0)
        top.addWidget(self.pileup_combo, 2, 1)
        top.addWidget(self.add_pile_btn, 2, 2)
        top.addWidget(self.del_pile_btn, 2, 3)
        self.patch_edit = QtWidgets.QLineEdit()
        self.patch_edit.setPlaceholderText("project backgrounds/ (default)")
        self.patch_edit.setToolTip("Folder of real background patches used when background = patches")
        self.patch_edit.editingFinished.connect(self._on_patch_dir)
        patch_btn = QtWidgets.QToolButton(text="…")
        patch_btn.setToolTip("Choose the folder of background patches")
        patch_btn.clicked.connect(self._choose_patch_dir)
        prow = QtWidgets.QHBoxLayout()
        prow.addWidget(QtWidgets.QLabel("Patches"))
        prow.addWidget(self.patch_edit, 1)
        prow.addWidget(patch_btn)

        left = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(top)
        ll.addLayout(prow)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        ll.addWidget(scroll, 1)
        left.setMinimumWidth(380)
        left.setMaximumWidth(460)

        self.compare = CompareView()
        self.compare.pixelHovered.connect(self.ctx.pixel)
        self.frame_spin = QtWidgets.QSpinBox()
        self.frame_spin.setToolTip("Real frame of the project to compare with")
        self.frame_spin.setKeyboardTracking(False)
        self.frame_spin.valueChanged.connect(self.load_real_frame)
        self.overlay_box = QtWidgets.QCheckBox("Masks")
        self.traces_box = QtWidgets.QCheckBox("Slip traces")
        self.info = QtWidgets.QLabel("")
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Real frame"))
        bar.addWidget(self.frame_spin)
        self.twin_btn = QtWidgets.QPushButton("Twin this frame")
        bar.addWidget(self.twin_btn)
        bar.addSpacing(16)
        bar.addWidget(self.overlay_box)
        bar.addWidget(self.traces_box)
        bar.addStretch(1)
        bar.addWidget(self.info)
        self.gen_btn = QtWidgets.QPushButton("Generate dataset…")
        bar.addWidget(self.gen_btn)
        centre = QtWidgets.QVBoxLayout()
        centre.addLayout(bar)
        centre.addWidget(self.compare, 1)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(left)
        lay.addLayout(centre, 1)

    def _build_actions(self) -> None:
        A = make_action
        self.act_new = A(self, "&New sample", "N", "Render with the next seed", self.new_sample)
        self.act_draw = A(self, "&Draw values from preset", "Ctrl+R",
                          "Draw every value at random from the preset's ranges", self.draw_from_preset)
        self.act_masks = A(self, "Show &masks", "M", "Colour each dislocation's mask", checkable=True,
                           triggered=lambda: self.compare.set_overlay_visible(self.act_masks.isChecked()))
        self.act_traces = A(self, "Show slip &traces", "T", "Highlight the slip traces", checkable=True,
                            triggered=lambda: self.compare.set_traces_visible(self.act_traces.isChecked()))
        self.act_twin = A(self, "T&win this frame", "Ctrl+T",
                          "Copy the annotated geometry of the real frame onto a synthetic background", self.twin_frame)
        self.act_save = A(self, "&Save preset…", "Ctrl+S", "Save the tuned ranges as a preset JSON", self.save_preset_dialog)
        self.act_load = A(self, "&Load preset…", "Ctrl+L", "Load a preset JSON", self.load_preset_dialog)
        self.act_generate = A(self, "&Generate dataset…", "Ctrl+G", "Write a synthetic dataset in a worker",
                              self.generate_dialog)
        set_icons([(self.act_new, "new"), (self.act_masks, "masks"), (self.act_traces, "traces"),
                   (self.act_twin, "twin"), (self.act_save, "save"), (self.act_load, "open"),
                   (self.act_generate, "generate")])
        for btn, a in ((self.new_btn, self.act_new), (self.twin_btn, self.act_twin), (self.gen_btn, self.act_generate)):
            btn.setIcon(a.icon())
        self.new_btn.clicked.connect(self.act_new.trigger)
        self.twin_btn.clicked.connect(self.act_twin.trigger)
        self.gen_btn.clicked.connect(self.act_generate.trigger)
        for box, act in ((self.overlay_box, self.act_masks), (self.traces_box, self.act_traces)):
            box.toggled.connect(act.setChecked)
            act.toggled.connect(box.setChecked)
        self.overlay_box.toggled.connect(self.compare.set_overlay_visible)
        self.traces_box.toggled.connect(self.compare.set_traces_visible)
        for w, a in ((self.new_btn, self.act_new), (self.twin_btn, self.act_twin), (self.gen_btn, self.act_generate),
                     (self.overlay_box, self.act_masks), (self.traces_box, self.act_traces)):
            w.setToolTip(a.toolTip())
        # Masks start hidden: comparing line contrast by eye needs the bare image (M shows them).
        self.compare.set_overlay_visible(False)

    def menu_actions(self) -> dict[str, list]:
        return {"Designer": [self.act_new, self.act_draw, None, self.act_masks, self.act_traces, None,
                             self.act_twin, None, self.act_load, self.act_save, None, self.act_generate]}

    def set_active(self, active: bool) -> None:
        for a in self.menu_actions()["Designer"]:
            if a is not None:
                a.setEnabled(active)

    def is_ready(self) -> bool:
        """True once a preview has been drawn (the screenshot waits for it)."""
        return self.shown_id >= 0 and not self._renderer.busy

    # -- parameters ---------------------------------------------------------------------------------
    def _show_values(self) -> None:
        self.form.set_values(self.state.values())
        n = len(self.state.params.pileups)
        with QtCore.QSignalBlocker(self.pileup_combo):
            self.pileup_combo.clear()
            self.pileup_combo.addItems([f"{i + 1} of {n}" for i in range(n)])
            self.pileup_combo.setCurrentIndex(self.state.pileup)
        self.del_pile_btn.setEnabled(n > 1)
        p = self.state.preset
        twin = "   <b>twin of a real frame</b>" if self.twin_label is not None else ""
        self.preset_label.setText(f"Preset: <b>{p.name if p else 'built-in defaults'}</b>{twin}")
        self.patch_edit.setText(self.state.params.patch_dir)

    def on_param_changed(self, name: str, value) -> None:
        """A control moved: update the parameters and re-render after the debounce."""
        if name == "background" and value == "patches" and not self.state.params.patch_dir:
            folder = self._default_patch_dir()
            if folder is None:
                self.ctx.warn("no background patches yet: cut some in the Annotate panel (B) or choose a "
                              "folder of patches; staying with Perlin noise")
                self.form.set_values({"background": "perlin"})
                return
            self.state.params = self.state.params.replace(patch_dir=folder)
        try:
            self.state.set(name, value)
        except DislocError as e:
            self.ctx.warn(str(e))
            self.form.set_values(self.state.values())
            return
        self.request_render()

    def _default_patch_dir(self) -> Optional[str]:
        pr = self.ctx.project
        if pr is not None and pr.background_files():
            return str(pr.backgrounds_dir)
        return None

    def _on_patch_dir(self) -> None:
        text = self.patch_edit.text().strip()
        if text == self.state.params.patch_dir:
            return
        if text and not Path(text).is_dir():
            self.ctx.warn(f"{text}: folder not found; choose a folder of background patches (PNG/TIFF)")
            return
        if not text and self.state.params.background == "patches":
            text = self._default_patch_dir() or ""
            if not text:
                self.state.set("background", "perlin")
        self.state.params = self.state.params.replace(patch_dir=text)
        self._show_values()
        self.request_render()

    def _choose_patch_dir(self) -> None:
        start = self.patch_edit.text() or (str(self.ctx.project.backgrounds_dir) if self.ctx.project else "")
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of background patches", start)
        if d:
            self.patch_edit.setText(d)
            self._on_patch_dir()

    def _on_seed(self, v: int) -> None:
        self.state.seed = int(v)
        self.request_render()

    def _on_pileup_chosen(self, i: int) -> None:
        if i >= 0:
            self.state.pileup = i
            self.form.set_values(self.state.values())

    def add_pileup(self) -> None:
        self.state.add_pileup()
        self._show_values()
        self.request_render()

    def remove_pileup(self) -> None:
        try:
            self.state.remove_pileup()
        except DislocError as e:
            self.ctx.info(str(e))
            return
        self._show_values()
        self.request_render()

    def new_sample(self) -> None:
        self.seed_spin.setValue(self.seed_spin.value() + 1)  # renders through _on_seed

    def draw_from_preset(self) -> None:
        if self.state.preset is None:
            self.ctx.info("no preset loaded: load one first (Ctrl+L)")
            return
        self.twin_label = None
        self.state.params = sample_params(self.state.preset, self.state.seed, self.state.params.size)
        self.state.pileup = 0
        self._show_values()
        self.request_render()

    # -- rendering ----------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Re-render after DEBOUNCE_MS without further changes."""
        self.last_request_time = time.perf_counter()
        self._debounce.start()

    def render_now(self) -> int:
        params, seed, twin = self.state.params, self.state.seed, self.twin_label

        def job():  # in the worker: the twin's geometry fit too
            scene = None
            if twin is not None:
                from core.synth.fit import twin_scene

                scene = twin_scene(twin, params, seed)
            return render_preview(params, seed, scene)

        return self._renderer.submit(job)

    def _on_rendered(self, rid: int, r: dict) -> None:
        self.compare.set_synthetic(r["image"], r["overlay"], r["traces"])
        self.info.setText(f"{r['n']} dislocations   {r['image'].shape[1]}×{r['image'].shape[0]} px")
        self.shown_id = rid
        self.last_result = r
        self.previewShown.emit(rid)

    # -- real frames and twins --------------------------------------------------------------------------
    def _on_project(self, project) -> None:
        src = self.ctx.frames() if project is not None else None
        with QtCore.QSignalBlocker(self.frame_spin):
            self.frame_spin.setRange(0, max(0, len(src) - 1) if src is not None else 0)
            self.frame_spin.setValue(self._first_annotated(src) if src is not None else 0)
        self.load_real_frame(self.frame_spin.value())

    def _first_annotated(self, src) -> int:
        """Start on an annotated frame, so Twin this frame works right away."""
        from core.project.folder import safe_name

        done = set(self.ctx.project.annotated_frames())
        return next((i for i in range(len(src)) if safe_name(src.name(i)) in done), 0)

    def load_real_frame(self, i: int) -> None:
        src = self.ctx.frames()
        if src is None or len(src) == 0:
            self.compare.set_real(None, "Real frame: none (File > Set frames)")
            return
        try:
            img = src[i]
        except DislocError as e:
            self.ctx.error(f"{e}. Choose another frame; the rest of the project is usable.")
            self.compare.set_real(None, f"Real frame {i}: unreadable")
            return
        self.compare.set_real(img, f"Real frame {i}  ({src.name(i)})")

    def twin_frame(self) -> bool:
        """Use the annotated geometry of the shown real frame (True when there was any)."""
        from core.project.folder import safe_name

        src, pr = self.ctx.frames(), self.ctx.project
        if src is None or pr is None:
            self.ctx.info("open a project with frames first")
            return False
        i = self.frame_spin.value()
        h, w = src.shape
        fa, msgs = pr.load_annotations(safe_name(src.name(i)), h, w)
        for m in msgs:
            self.ctx.warn(m)
        if len(fa) == 0:
            self.ctx.warn(f"frame {i} has no annotated dislocations; draw them in the Annotate panel first")
            return False
        self.twin_label = fa.to_labelfile(src.name(i))
        self._show_values()
        self.ctx.info(f"twin of frame {i}: {len(fa)} dislocations on a synthetic background; "
                      f"'Draw values from preset' (Ctrl+R) leaves twin mode")
        self.request_render()
        return True

    # -- presets and datasets -------------------------------------------------------------------------------
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
        self.ctx.info(f"preset {preset.name} loaded from {path}")
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

    def shutdown(self) -> None:
        self._debounce.stop()
        self._renderer.stop()
        if self._dialog is not None and self._dialog.running:
            self._dialog.job.cancel()
            self._dialog.job.wait()
