"""Train: settings, a training run in a worker thread with live curves, the project's runs.

Training is :func:`core.learn.train.train`, run by an :mod:`app.gui.workers` job in a
child process (:mod:`.childproc`), so the window stays responsive; Cancel
stops between steps (best.pt and last.pt are kept; Resume continues from
last.pt). Every run lives in the project's runs/ folder; the runs table
compares them (curves overlaid) and chooses one as the project's model
(runs/selected.json, used by the Segment panel).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtGui, QtWidgets

from core.errors import DislocError
from core.learn.runfolder import CHECKPOINTS, RunInfo, load_config
from core.learn.trainconfig import TrainConfig
from core.project.runs import list_runs, new_run_dir, select_model, selected_model

from ..actions import make_action
from ..context import AppContext
from ..widgets.curves import TrainCurves
from ..widgets.jobbar import JobBar
from ..workers import Job, start_job
from .childproc import call_in_child
from .threads import default_threads
from .train_finetune import FinetuneBox
from .train_form import TrainForm

UI_INTERVAL_S = 0.25
RUN_COLUMNS = ["Compare / run", "Encoder", "Data", "Epochs", "Best metric", "Status"]


def describe_device(device: str = "auto") -> str:
    """What training will run on, for a person (imports torch: call it in a worker)."""
    import os

    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return f"CUDA GPU: {torch.cuda.get_device_name(0)}"
    if device == "cuda":
        return "CUDA asked for, but torch sees no GPU; training would fail: choose auto or cpu"
    return f"CPU, {default_threads()} of {os.cpu_count()} cores (one left for the window)"


class TrainPanel(QtWidgets.QWidget):
    """Settings on the left; progress, curves and the runs of the project on the right.

    Signals
    -------
    progressed(object)
        Every :class:`core.progress.Progress` of the running training.
    runEnded(str, str)
        Run folder and outcome ("finished", "stopped" or the error text), once
        the worker thread has ended (a run can then be resumed or started).
    modelChosen(str)
        A checkpoint became the project's model.
    """

    progressed = QtCore.Signal(object)
    runEnded = QtCore.Signal(str, str)
    modelChosen = QtCore.Signal(str)
    title = "Train"

    def __init__(self, ctx: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Optional[Job] = None
        self.run_dir: Optional[Path] = None
        self.config: Optional[TrainConfig] = None
        self.threads: Optional[int] = None  # torch CPU threads; None: all cores but one
        self.history: list[dict] = []
        self.runs: list[RunInfo] = []
        self.device_text = ""
        self._device_job: Optional[Job] = None
        self._build()
        self._build_actions()
        ctx.projectChanged.connect(lambda _p: self.refresh())

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = TrainForm()
        self.form.add_btn.clicked.connect(self._add_folder_dialog)
        self.form.device.currentIndexChanged.connect(lambda _i: self.detect_device())
        self.start_btn = QtWidgets.QPushButton("Start training")
        self.start_btn.setDefault(True)
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setToolTip("Stop after the current step; best.pt and last.pt are kept, Resume continues")
        brow = QtWidgets.QHBoxLayout()
        brow.addWidget(self.start_btn, 1)
        brow.addWidget(self.cancel_btn)
        leftw = QtWidgets.QWidget()
        ll = QtWidgets.QVBoxLayout(leftw)
        ll.setContentsMargins(0, 0, 0, 0)
        self.finetune_box = FinetuneBox(self)
        ll.addWidget(self.finetune_box)
        ll.addWidget(self.form)
        ll.addLayout(brow)
        ll.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(leftw)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(360)
        scroll.setMaximumWidth(430)

        self.device_label = QtWidgets.QLabel("Device: …")
        # The panel's own Cancel sits beside Start; the bar shows while a run goes.
        self.job_bar = JobBar(stacked=True, cancel=False, bar_format="step %v / %m")
        self.job_bar.insert_widget(0, self.device_label)
        pol = self.job_bar.bar.sizePolicy()
        pol.setRetainSizeWhenHidden(True)  # appearing must not re-lay out (and repaint) the plots
        self.job_bar.bar.setSizePolicy(pol)
        self.status = self.job_bar.status
        self.status.setText("Choose training data and press Start training.")
        # A fixed height: a status line that changes height would re-lay out and repaint the plots every step.
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 6)
        self.status.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
        self.curves = TrainCurves()
        self.table = QtWidgets.QTreeWidget()
        self.table.setHeaderLabels(RUN_COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setToolTip("Tick runs to overlay their curves; ★ marks the project's model")
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.use_btn = QtWidgets.QPushButton("Use as project model")
        self.resume_btn = QtWidgets.QPushButton("Resume")
        self.resume_btn.setToolTip("Continue the selected stopped run from its last.pt")
        self.finetune_btn = QtWidgets.QPushButton("Fine-tune from it")
        self.finetune_btn.setToolTip("Start a new run from the selected run's best.pt")
        self.open_btn = QtWidgets.QPushButton("Open folder")
        rrow = QtWidgets.QHBoxLayout()
        for b in (self.use_btn, self.resume_btn, self.finetune_btn, self.open_btn):
            rrow.addWidget(b)
        rrow.addStretch(1)
        runs_box = QtWidgets.QWidget()
        rl = QtWidgets.QVBoxLayout(runs_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QtWidgets.QLabel("<b>Runs of this project</b> (tick to compare curves)"))
        rl.addWidget(self.table, 1)
        rl.addLayout(rrow)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.curves)
        split.addWidget(runs_box)
        split.setSizes([560, 260])
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.job_bar)
        right.addWidget(split, 1)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(scroll)
        lay.addLayout(right, 1)

    def _build_actions(self) -> None:
        A = make_action
        self.act_start = A(self, "&Start training", "Ctrl+T", "Train a new run with these settings", self.start)
        self.act_cancel = A(self, "&Cancel training", "Esc", "Stop; best.pt and last.pt are kept", self.cancel)
        self.act_resume = A(self, "&Resume run", "Ctrl+Shift+T", "Continue the selected stopped run", self.resume)
        self.act_use = A(self, "&Use run as project model", "Ctrl+U", "Segment with the selected run's best.pt",
                         self.use_selected)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        self.resume_btn.clicked.connect(self.resume)
        self.use_btn.clicked.connect(self.use_selected)
        self.finetune_btn.clicked.connect(self._finetune_selected)
        self.open_btn.clicked.connect(self._open_selected)
        for b, a in ((self.start_btn, self.act_start), (self.resume_btn, self.act_resume), (self.use_btn, self.act_use)):
            b.setToolTip(a.toolTip())

    def menu_actions(self) -> dict[str, list]:
        return {"Train": [self.act_start, self.act_cancel, self.act_resume, None, self.act_use]}

    def set_active(self, active: bool) -> None:
        for a in self.menu_actions()["Train"]:
            if a is not None:
                a.setEnabled(active)
        if active:
            if not self.running:
                self.refresh()
            self.detect_device()

    def is_ready(self) -> bool:
        return bool(self.device_text)

    # -- project, runs, device -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the project's data folders and runs (cheap: no torch)."""
        p = self.ctx.project
        self.form.set_project(p.root if p else None)
        self.runs = list_runs(p.root) if p else []
        self.form.set_checkpoints(self.runs)
        self._fill_table()
        if not self.running and self.history == [] and self.runs:
            last = self.runs[-1]
            self.curves.set_history(last.history)
            self.status.setText(f"Last run: {last.name} ({last.status}, {last.epochs_text} epochs). "
                                "Choose training data and press Start training.")

    def _fill_table(self) -> None:
        p = self.ctx.project
        try:
            chosen = selected_model(p.root) if p else None
        except DislocError as e:
            chosen = None
            self.ctx.warn(str(e))
        checked = {self.table.topLevelItem(i).text(0).lstrip("★ ") for i in range(self.table.topLevelItemCount())
                   if self.table.topLevelItem(i).checkState(0) == QtCore.Qt.CheckState.Checked}
        current = self.table.currentItem().data(0, QtCore.Qt.ItemDataRole.UserRole) if self.table.currentItem() else None
        self.table.blockSignals(True)
        self.table.clear()
        for r in reversed(self.runs):  # newest first
            star = chosen is not None and chosen.parent.resolve() == r.path.resolve()
            it = QtWidgets.QTreeWidgetItem([("★ " if star else "") + r.name, r.encoder, r.data_summary(),
                                            r.epochs_text, r.best_text, r.status])
            it.setData(0, QtCore.Qt.ItemDataRole.UserRole, str(r.path))
            it.setCheckState(0, QtCore.Qt.CheckState.Checked if r.name in checked else QtCore.Qt.CheckState.Unchecked)
            if r.problem:
                it.setToolTip(5, r.problem)
                it.setForeground(5, QtGui.QBrush(QtGui.QColor(190, 40, 40)))
            self.table.addTopLevelItem(it)
            if str(r.path) == current:
                self.table.setCurrentItem(it)
        for c in range(len(RUN_COLUMNS)):
            self.table.resizeColumnToContents(c)
        self.table.blockSignals(False)
        self._update_compare()
        self._update_buttons()

    def _on_item_changed(self, _item, column: int) -> None:
        if column == 0:
            self._update_compare()

    def _update_compare(self) -> None:
        by_path = {str(r.path): r for r in self.runs}
        chosen = []
        for i in range(self.table.topLevelItemCount()):
            it = self.table.topLevelItem(i)
            if it.checkState(0) == QtCore.Qt.CheckState.Checked:
                r = by_path.get(it.data(0, QtCore.Qt.ItemDataRole.UserRole))
                if r is not None:
                    chosen.append((r.name, r.history))
        self.curves.set_compare(chosen)

    def compare(self, names) -> None:
        """Tick the runs named (overlaid on the curves)."""
        for i in range(self.table.topLevelItemCount()):
            it = self.table.topLevelItem(i)
            on = it.text(0).lstrip("★ ") in set(names)
            it.setCheckState(0, QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)

    def selected_run(self) -> Optional[RunInfo]:
        it = self.table.currentItem()
        if it is None:
            return None
        return next((r for r in self.runs if str(r.path) == it.data(0, QtCore.Qt.ItemDataRole.UserRole)), None)

    def select_run(self, path) -> None:
        """Make the run in folder ``path`` the current row of the runs table."""
        for i in range(self.table.topLevelItemCount()):
            if self.table.topLevelItem(i).data(0, QtCore.Qt.ItemDataRole.UserRole) == str(path):
                self.table.setCurrentItem(self.table.topLevelItem(i))

    def _update_buttons(self) -> None:
        r = self.selected_run()
        idle = not self.running
        self.use_btn.setEnabled(r is not None and r.has_best)
        self.finetune_btn.setEnabled(idle and r is not None and r.has_best)
        self.resume_btn.setEnabled(idle and r is not None and r.can_resume)
        self.open_btn.setEnabled(r is not None)

    def detect_device(self) -> None:
        """Say what training will run on (torch is imported in a worker, not on the GUI thread)."""
        if self._device_job is not None and not self._device_job.is_done:
            return
        dev = self.form.device.currentData()

        def shown(text):
            self.device_text = text
            self.device_label.setText(f"Device: <b>{text}</b>")

        self._device_job = start_job(lambda _p, _s: describe_device(dev), on_finished=shown,
                                     on_failed=lambda m: shown(f"unknown ({m})"), parent=self)

    # -- running ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.is_done

    def start(self) -> Optional[Path]:
        """Start a new run with the form's settings; returns its folder (None when refused)."""
        if self.running:
            return None
        p = self.ctx.project
        if p is None:
            self.ctx.warn("open or create a project first (File > New project)")
            return None
        try:
            cfg = self.form.config(self.threads)
        except DislocError as e:
            self.ctx.error(f"{e}")
            return None
        return self._launch(cfg, new_run_dir(p.root, self.form.run_label()), [])

    def resume(self) -> Optional[Path]:
        """Continue the selected stopped run from its last.pt."""
        r = self.selected_run()
        if self.running or r is None:
            return None
        if not r.can_resume:
            self.ctx.info(f"run {r.name} cannot be resumed ({r.status}); start a new run or fine-tune from it")
            return None
        try:
            cfg = load_config(r.path)
            cfg = cfg.replace(resume=True, threads=self.threads or default_threads())
        except DislocError as e:
            self.ctx.error(f"{e}. Start a new run instead.")
            return None
        return self._launch(cfg, r.path, list(r.history))

    def _launch(self, cfg: TrainConfig, run_dir: Path, history: list[dict]) -> Path:
        from core.learn.train import train

        launched = self.launch_child(train, (cfg, run_dir), {}, run_dir, history, config=cfg,
                                     message=f"preparing {run_dir.name}: building the network, reading the data…")
        # a run with a time budget (a fine-tune resumed) counts seconds of it, any other steps
        self.job_bar.bar.setFormat("%v / %m s" if cfg.max_minutes else "step %v / %m")
        return launched

    def launch_child(self, fn, args: tuple, kwargs: dict, run_dir: Path, history: list[dict], *,
                     config: Optional[TrainConfig], message: str, total: int = 0, on_finished=None,
                     on_failed=None, on_progress=None, on_done=None) -> Path:
        """Run ``fn(*args, **kwargs, on_progress=, should_stop=)`` in a child process as this panel's job.

        The curves restart from ``history``, the job bar is busy with ``message``
        until the first step, and the form is locked until the job ends (the
        handlers default to a training run's).
        """
        self.config, self.run_dir, self.history = config, run_dir, history

        def redraw() -> None:  # in an event-loop turn of its own: the plots' repaint is the costly part
            self.curves.clear_live()
            self.curves.set_history(self.history)

        QtCore.QTimer.singleShot(0, redraw)
        self._last_ui = 0.0
        self.job_bar.start(total, message)
        self.job_bar.bar.setRange(0, 0)  # busy until the first step: building the network and loading data
        self._set_running(True)
        # A child process does the work (see childproc: torch would stall the window through the GIL).
        self.job = start_job(lambda on_progress_, should_stop: call_in_child(
                             fn, *args, on_progress=on_progress_, should_stop=should_stop, **kwargs),
                             on_finished=on_finished or self._on_finished, on_failed=on_failed or self._on_failed,
                             on_progress=on_progress or self._on_progress, parent=self)
        self._outcome = "failed"
        self.job.done.connect(on_done or self._on_done)
        return run_dir

    def _on_done(self) -> None:
        """The worker thread has ended: the run can be resumed or another started."""
        self._set_running(False)
        self.runEnded.emit(str(self.run_dir), self._outcome)

    def _set_running(self, on: bool) -> None:
        if not on:
            self.job_bar.stop()
        self.form.setEnabled(not on)
        self.finetune_box.button.setEnabled(not on)
        self.finetune_box.minutes.setEnabled(not on)
        self.start_btn.setEnabled(not on)
        self.act_start.setEnabled(not on)
        self.cancel_btn.setEnabled(on)
        self._update_buttons()

    def _on_progress(self, p) -> None:
        m = p.metrics
        cfg = self.config
        if "train_loss" in m:  # an epoch ended: its row, as history.csv will hold it
            self.history.append(dict(m))
            self.curves.set_history(self.history)
        elif "loss" in m:
            per_epoch = max(1, p.total // max(1, cfg.epochs))
            self.curves.add_step(float(m.get("epochs_done", p.step / per_epoch)), float(m["loss"]))
        now = time.monotonic()
        if "train_loss" not in m and now - self._last_ui < UI_INTERVAL_S:
            self.job_bar.eta.seconds_left(p.step, p.total, now)  # the rate counts from the very first step
            self.progressed.emit(p)
            return  # fast steps: the text is redrawn a few times a second, not on every step
        self._last_ui = now
        eta = self.job_bar.show_progress(p, now=now)
        rate = self.job_bar.eta.rate
        parts = [p.message]
        if "loss" in m:
            parts.append(f"loss {m['loss']:.4f}")
        if self.history:
            last = self.history[-1]
            parts.append(f"last epoch: train {last.get('train_loss', math.nan):.4f}" +
                         (f", test {last['test_loss']:.4f}" if "test_loss" in last else "") +
                         (f", metric {last['metric']:.3f}" if "metric" in last else ""))
        if rate > 0 and not cfg.max_minutes:  # a budget run's bar counts seconds, not steps
            parts.append(f"{1 / rate:.2f} s/step   {self.job_bar.eta_text(eta)}")
        self.status.setText("   ·   ".join(parts))
        self.progressed.emit(p)

    def _on_finished(self, result) -> None:
        best = (f"best metric {result.best_metric:.3f} at epoch {result.best_epoch}"
                if result.best_metric is not None else "no test data: best.pt has the lowest training loss")
        self.status.setText(f"{Path(result.run_dir).name} finished: {result.epochs_done} epochs, {best}.")
        self.ctx.info(f"training finished: {best}; checkpoints in {result.run_dir}")
        p = self.ctx.project
        if p is not None and self._no_model_chosen(p.root) and Path(result.best_path).exists():
            self.use_model(result.best_path, note=" (the project had no model yet)")
        self.refresh()
        self._outcome = "finished"

    def _on_failed(self, msg: str) -> None:
        run = self.run_dir
        if msg == "stopped":
            kept = [f for f in CHECKPOINTS if (run / f).exists()]
            self.status.setText(f"{run.name} stopped; kept {', '.join(kept) or 'nothing yet'}. "
                                "Select it below and press Resume to continue.")
            self.ctx.info(f"training stopped; {', '.join(kept) or 'no checkpoint'} kept in {run}")
        else:
            self.status.setText(f"{run.name} failed: {msg}")
            self.ctx.error(f"training failed: {msg}")
        self.refresh()
        self.select_run(run)  # ready for Resume
        self._outcome = msg

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self.status.setText("stopping after the current step; best.pt and last.pt are kept…")

    # -- choosing the project's model ----------------------------------------------------------------
    @staticmethod
    def _no_model_chosen(root) -> bool:
        """True while the project has no model of its own (the shipped default does not count)."""
        try:
            return selected_model(root) is None
        except DislocError:
            return False

    def use_selected(self) -> None:
        r = self.selected_run()
        if r is None or not r.has_best:
            self.ctx.info("select a run with a best.pt in the table first")
            return
        self.use_model(r.best_path)

    def use_model(self, path, note: str = "") -> None:
        try:
            select_model(self.ctx.project.root, path)
        except (DislocError, OSError) as e:
            self.ctx.error(f"{e}")
            return
        self.ctx.info(f"{path} is now the project's model{note}; the Segment panel uses it")
        self._fill_table()
        self.modelChosen.emit(str(path))

    def _finetune_selected(self) -> None:
        r = self.selected_run()
        if r is not None and r.has_best:
            self.form.set_init(str(r.best_path))
            self.ctx.info(f"the next run starts from {r.best_path}; tick your annotated frames as training data")

    def _open_selected(self) -> None:
        r = self.selected_run()
        if r is not None:
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(r.path)))

    def _add_folder_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Add a dataset folder or a folder of labelme files")
        if d:
            try:
                self.form.add_folder(d, self.ctx.project.root if self.ctx.project else None)
            except DislocError as e:
                self.ctx.error(f"{e}")

    def shutdown(self) -> None:
        if self.running:
            self.job.cancel()
            self.job.wait(120000)
        if self._device_job is not None:
            self._device_job.wait()
