"""Designer: tune a synthetic twin of your micrographs by eye.

Left, the preset chooser and the generator's parameters (method §1, and
what real frames show besides dislocations) as plainly named sliders in
groups; centre, the rendered image beside a real frame with both
histograms and intensity profiles. A slider move re-renders in a worker
after a 50 ms pause (debounce); only the newest request is shown. Presets,
datasets and backgrounds cut from the frames: :mod:`.designer_io`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from core.errors import DislocError
from core.synth import PARAM_SPECS, default_params, list_presets, load_preset, sample_params

from ..actions import make_action, set_icons
from ..context import AppContext
from ..dialogs import GenerateDialog
from ..widgets.compare import CompareView
from ..widgets.jobbar import JobBar
from ..widgets.params import ParamForm
from ..workers import Job, LatestOnly
from .designer_io import DesignerFiles
from .designer_state import TWIN_UNUSED, DesignerState, left_out_text, render_preview, shown_groups, slider_span

DEBOUNCE_MS = 50


class DesignerPanel(QtWidgets.QWidget, DesignerFiles):
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
        self.harvest_job: Optional[Job] = None
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(self._on_project)
        ctx.unitsChanged.connect(self.compare.set_units)
        self._fill_presets()
        self._show_values()
        self.request_render()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        size = self.state.params.size
        groups = [(t, doc, [PARAM_SPECS[n] for n in names]) for t, doc, names in shown_groups()]
        spans = {n: slider_span(n, self.state.preset, size) for _, _, names in shown_groups() for n in names
                 if PARAM_SPECS[n].kind in ("int", "float")}
        self.form = ParamForm(groups, spans)
        self.form.changed.connect(self.on_param_changed)
        self.explain = QtWidgets.QLabel("Point at a slider to see what it does.")
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color:#345; background:#eef3f8; padding:3px; border-radius:3px;")
        self.explain.setMinimumHeight(2 * self.explain.fontMetrics().lineSpacing() + 8)
        self.form.explained.connect(self.explain.setText)

        top = QtWidgets.QGridLayout()
        self.preset_label = QtWidgets.QLabel()
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.setToolTip("Start from a preset: m2 (the paper's M2 images), realistic (frames with "
                                     "uneven light, straight lines, specks, camera noise), or your own")
        self.preset_combo.activated.connect(self._on_preset_chosen)
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
        top.addWidget(QtWidgets.QLabel("Preset"), 0, 0)
        top.addWidget(self.preset_combo, 0, 1, 1, 3)
        top.addWidget(self.preset_label, 1, 0, 1, 4)
        top.addWidget(QtWidgets.QLabel("Seed"), 2, 0)
        top.addWidget(self.seed_spin, 2, 1)
        top.addWidget(self.new_btn, 2, 2, 1, 2)
        self.pileup_label = QtWidgets.QLabel("Pileup")
        top.addWidget(self.pileup_label, 3, 0)
        top.addWidget(self.pileup_combo, 3, 1)
        top.addWidget(self.add_pile_btn, 3, 2)
        top.addWidget(self.del_pile_btn, 3, 3)
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
        self.harvest_btn = QtWidgets.QPushButton("Backgrounds from my frames…")
        self.harvest_btn.setToolTip("Cut crops without dislocations from the project's frames (away from the lines "
                                    "you annotated; elsewhere where no line is seen) into backgrounds/"
                                    "from_frames, and draw the synthetic lines on them")
        self.harvest_btn.clicked.connect(lambda: self.harvest_backgrounds())
        self.harvest_bar = JobBar(stacked=True, bar_format="%v / %m frames")
        self.harvest_bar.cancelled.connect(self.cancel_harvest)
        self.harvest_bar.setVisible(False)  # shown while crops are cut

        left = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(top)
        ll.addLayout(prow)
        ll.addWidget(self.harvest_btn)
        ll.addWidget(self.harvest_bar)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        ll.addWidget(scroll, 1)
        ll.addWidget(self.explain)
        left.setMinimumWidth(340)
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
        self.gen_btn = QtWidgets.QPushButton("Generate dataset…")
        bar.addWidget(self.gen_btn)
        self.info.setWordWrap(True)
        centre = QtWidgets.QVBoxLayout()
        centre.addLayout(bar)
        centre.addWidget(self.info)
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
        self.act_twin = A(self, "T&win this frame", "W",
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
        twin = self.twin_label is not None
        self.preset_label.setText(f"<b>Twin of a real frame</b>: its lines, your look (Ctrl+R leaves)" if twin else
                                  f"<i>{p.description[:90] + ('…' if len(p.description) > 90 else '')}</i>"
                                  if p is not None and p.description else "")
        self.preset_label.setWordWrap(True)
        self.preset_label.setToolTip(p.description if p is not None else "")
        self.patch_edit.setText(self.state.params.patch_dir)
        # A twin takes its geometry from the annotated frame: the pileup controls would do nothing.
        self.form.set_hidden(TWIN_UNUSED, twin)
        for w in (self.pileup_label, self.pileup_combo, self.add_pile_btn, self.del_pile_btn):
            w.setVisible(not twin)

    def on_param_changed(self, name: str, value) -> None:
        """A control moved: update the parameters and re-render after the debounce."""
        if name == "background" and value == "patches" and not self.state.params.patch_dir:
            folder = self._default_patch_dir()
            if folder is None:
                self.ctx.warn("no background patches yet: press 'Backgrounds from my frames…', cut some in the "
                              "Annotate panel (B) or choose a folder of patches; staying with Perlin noise")
                self.form.set_values({"background": "perlin"})
                return
            self.state.params = self.state.params.replace(patch_dir=folder)
        before = left_out_text(self.state.params)
        try:
            self.state.set(name, value)
        except DislocError as e:
            self.ctx.warn(str(e))
            self.form.set_values(self.state.values())
            return
        after = left_out_text(self.state.params)
        if after and after != before:
            self.ctx.info(after)
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
        if left_out_text(self.state.params):
            self.ctx.info(left_out_text(self.state.params))
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
        notes = [f"{r['n']} dislocations, {r['image'].shape[1]}×{r['image'].shape[0]} px"]
        cut = left_out_text(self.state.params) if self.twin_label is None else ""
        if cut:
            notes.append(f"<span style='color:#a05a00'>{cut}</span>")
        if r.get("dropped"):
            notes.append(f"{r['dropped']} line(s) shorter than 'shortest line kept' inside the image left out")
        self.info.setText(";  ".join(notes))
        self.shown_id = rid
        self.last_result = r
        self.previewShown.emit(rid)

    # -- real frames and twins --------------------------------------------------------------------------
    def _on_project(self, project) -> None:
        self._fill_presets()
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

    def shutdown(self) -> None:
        self._debounce.stop()
        self._renderer.stop()
        if self.harvesting:
            self.harvest_job.cancel()
            self.harvest_job.wait()
        if self._dialog is not None and self._dialog.running:
            self._dialog.job.cancel()
            self._dialog.job.wait()
