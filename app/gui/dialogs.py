"""The "Generate dataset…" dialog: count, size, folder; progress with ETA; cancel."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6 import QtCore, QtWidgets

from core.progress import format_duration

from .widgets.jobbar import JobBar
from .workers import Job, start_job


class GenerateDialog(QtWidgets.QDialog):
    """Runs ``job(count, size, folder, seed, on_progress, should_stop)`` in a worker.

    Non-modal: the main window stays usable while the dataset is written.
    Signals ``done(str)`` with the folder after success and ``stopped(str)``
    with the reason after a failure or a cancel (finished samples are kept).
    """

    done = QtCore.Signal(str)
    stopped = QtCore.Signal(str)

    def __init__(self, job: Callable, default_folder: Path, size: int = 512, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generate dataset")
        self.setModal(False)
        self._job_fn = job
        self.job: Optional[Job] = None
        self.count = QtWidgets.QSpinBox()
        self.count.setRange(1, 1_000_000)
        self.count.setValue(1000)
        self.count.setToolTip("Number of images; the paper used 4000 for training and 1000 for testing")
        self.size = QtWidgets.QSpinBox()
        self.size.setRange(32, 4096)
        self.size.setSingleStep(64)
        self.size.setValue(size)
        self.size.setSuffix(" px")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("First seed; image i uses seed + i, so the dataset can be remade exactly")
        self.folder = QtWidgets.QLineEdit(str(default_folder))
        browse = QtWidgets.QToolButton(text="…")
        browse.setToolTip("Choose the output folder")
        browse.clicked.connect(self._browse)
        frow = QtWidgets.QHBoxLayout()
        frow.addWidget(self.folder, 1)
        frow.addWidget(browse)
        form = QtWidgets.QFormLayout()
        form.addRow("Images", self.count)
        form.addRow("Image size", self.size)
        form.addRow("First seed", self.seed)
        form.addRow("Output folder", frow)
        # The dialog's own button cancels (and closes when idle), so the job bar has none.
        self.job_bar = JobBar(stacked=True, cancel=False, hide_idle=False)
        self.bar, self.status = self.job_bar.bar, self.job_bar.status
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status.setText("Existing finished images in the folder are kept; a stopped run resumes.")
        self.start_btn = QtWidgets.QPushButton("Generate")
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn = QtWidgets.QPushButton("Close")
        self.cancel_btn.clicked.connect(self.cancel_or_close)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.cancel_btn)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.job_bar)
        lay.addLayout(buttons)
        self.resize(520, 240)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder for the dataset", self.folder.text())
        if d:
            self.folder.setText(d)

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.is_done

    def start(self) -> None:
        if self.running:
            return
        n, size, seed = self.count.value(), self.size.value(), self.seed.value()
        out = Path(self.folder.text()).expanduser()
        self.job_bar.start(n)
        for w in (self.count, self.size, self.seed, self.folder, self.start_btn):
            w.setEnabled(False)
        self.cancel_btn.setText("Cancel")
        fn = self._job_fn
        self.job = start_job(lambda on_progress, should_stop: fn(n, size, out, seed, on_progress, should_stop),
                             on_finished=lambda _r: self._finish(str(out), None),
                             on_failed=lambda msg: self._finish(str(out), msg),
                             on_progress=self._on_progress, parent=self)

    def _on_progress(self, p) -> None:
        total = p.total or self.bar.maximum()
        eta = self.job_bar.show_progress(p, total)  # resumed samples count as done at once: rate from the first report
        self.status.setText(f"{p.step} / {total} images   elapsed {format_duration(self.job_bar.elapsed())}   "
                            f"{self.job_bar.eta_text(eta)}" + (f"   {p.message}" if p.message else ""))

    def _finish(self, folder: str, error: Optional[str]) -> None:
        for w in (self.count, self.size, self.seed, self.folder, self.start_btn):
            w.setEnabled(True)
        self.cancel_btn.setText("Close")
        if error is None:
            self.bar.setValue(self.bar.maximum())
            self.status.setText(f"done: {folder}")
            self.done.emit(folder)
        else:
            self.status.setText(f"{'cancelled' if error == 'stopped' else error}; finished images are kept in {folder}")
            self.stopped.emit(error)

    def cancel_or_close(self) -> None:
        if self.running:
            self.job.cancel()
            self.status.setText("stopping after the current image…")
        else:
            self.close()

    def closeEvent(self, ev) -> None:
        if self.running:  # closing the dialog stops the job; never leave it running unseen
            self.job.cancel()
            self.job.wait()
        super().closeEvent(ev)
