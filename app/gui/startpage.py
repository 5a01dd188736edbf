"""The start page: what a first-time user sees before any project is open.

Open a video (or stack, image folder, DM3/DM4 file), open a project, pick
a recent one, or run the demo (a synthetic in-situ video segmented by the
shipped model, in a worker with progress and cancel). The main window
shows it while no project is open and hides it once one is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from .widgets.jobbar import JobBar
from .workers import Job, start_job

#: Where "Run the demo" builds its project.
DEMO_DIR = Path.home() / "Dislocation Studio demo"
FRAME_FILTER = "Frames (*.mp4 *.avi *.mov *.mkv *.tif *.tiff *.dm3 *.dm4 *.png *.jpg);;All files (*)"


class StartPage(QtWidgets.QWidget):
    """Big buttons, recent projects and the demo.

    Signals
    -------
    openData(str)
        A video, stack, image folder or DM file to open (in a project).
    openProject(str)
        A project folder to open.
    newProject()
        The user wants a new, empty project.
    demoDone(str)
        The demo project is ready (its folder).
    """

    openData = QtCore.Signal(str)
    openProject = QtCore.Signal(str)
    newProject = QtCore.Signal()
    demoDone = QtCore.Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.demo_job: Optional[Job] = None
        self.demo_kwargs: dict = {}  # tests make the demo small and fast
        title = QtWidgets.QLabel("<h1>Dislocation Studio</h1>"
                                 "<p>From in-situ TEM videos to the positions, shapes and speeds of dislocations.</p>")
        title.setWordWrap(True)
        self.video_btn = self._big("Open video…", "A video, TIFF stack, DM3/DM4 file or single image: a project is "
                                   "made beside it for your annotations and results")
        self.video_btn.clicked.connect(self._choose_video)
        self.folder_btn = self._big("Open image folder…", "A folder of PNG, TIFF or JPEG frames, in natural order")
        self.folder_btn.clicked.connect(self._choose_folder)
        self.project_btn = self._big("Open project…", "A project folder you made before")
        self.project_btn.clicked.connect(self._choose_project)
        self.new_btn = self._big("New project…", "An empty project folder; choose its frames later")
        self.new_btn.clicked.connect(self.newProject)
        self.demo_btn = self._big("Run the demo", f"Render a synthetic in-situ video, segment and track it with the "
                                  f"shipped model, and open the result (in {DEMO_DIR}; about a minute)")
        self.demo_btn.clicked.connect(self.run_demo)
        self.job_bar = JobBar(stacked=True, bar_format="%v / %m frames")
        self.job_bar.cancelled.connect(self.cancel_demo)
        buttons = QtWidgets.QGridLayout()
        for i, b in enumerate((self.video_btn, self.folder_btn, self.project_btn, self.new_btn, self.demo_btn)):
            buttons.addWidget(b, i // 2, i % 2)
        self.recent = QtWidgets.QListWidget()
        self.recent.setToolTip("Double-click a project to open it")
        self.recent.itemActivated.connect(lambda it: self.openProject.emit(it.data(QtCore.Qt.ItemDataRole.UserRole)))
        hint = QtWidgets.QLabel("…or drop a video, TIFF stack, image folder or DM3/DM4 file anywhere on this window. "
                                "Help > Getting started (F1) walks through a first session.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color:#555;")
        col = QtWidgets.QVBoxLayout()
        col.addWidget(title)
        col.addLayout(buttons)
        col.addWidget(self.job_bar)
        col.addWidget(hint)
        col.addWidget(QtWidgets.QLabel("<b>Recent projects</b>"))
        self.recent.setMaximumHeight(8 * self.recent.fontMetrics().lineSpacing() + 12)
        col.addWidget(self.recent)
        col.addStretch(1)
        inner = QtWidgets.QWidget()
        inner.setLayout(col)
        inner.setMaximumWidth(760)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(inner, 4)
        lay.addStretch(1)

    @staticmethod
    def _big(text: str, tip: str) -> QtWidgets.QPushButton:
        b = QtWidgets.QPushButton(text)
        b.setToolTip(tip)
        b.setMinimumHeight(44)
        f = b.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        b.setFont(f)
        return b

    def set_recent(self, folders: list[str]) -> None:
        """Show recent project folders (those still there), newest first."""
        self.recent.clear()
        for r in folders:
            if (Path(r) / "project.json").exists():
                it = QtWidgets.QListWidgetItem(f"{Path(r).name}    —    {r}")
                it.setData(QtCore.Qt.ItemDataRole.UserRole, r)
                self.recent.addItem(it)
        if not self.recent.count():
            self.recent.addItem("(none yet)")
            self.recent.item(0).setFlags(QtCore.Qt.ItemFlag.NoItemFlags)

    def _choose_video(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a video, TIFF stack or DM file", "", FRAME_FILTER)
        if path:
            self.openData.emit(path)

    def _choose_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of frames")
        if d:
            self.openData.emit(d)

    def _choose_project(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a project folder")
        if d:
            self.openProject.emit(d)

    # -- the demo -----------------------------------------------------------------------------
    @property
    def demo_running(self) -> bool:
        return self.demo_job is not None and not self.demo_job.is_done

    def run_demo(self, folder: Optional[Path] = None) -> None:
        """Build the demo project in a worker (core.demo.run_demo); demoDone(folder) when it is ready."""
        if self.demo_running:
            return
        from core.demo import run_demo

        folder = Path(folder or DEMO_DIR)
        kwargs = dict(self.demo_kwargs)
        n = int(kwargs.get("n_frames", 30))
        self.job_bar.start(n, f"building the demo in {folder}…")
        self.demo_btn.setEnabled(False)

        def work(on_progress, should_stop):
            from .panels.threads import set_torch_threads_once

            set_torch_threads_once()
            return run_demo(folder, on_progress=on_progress, should_stop=should_stop, **kwargs)

        def progress(p):
            eta = self.job_bar.show_progress(p)
            self.job_bar.set_status(f"{p.message}: {p.step}/{p.total}   {self.job_bar.eta_text(eta)}")

        def ended(error: Optional[str]):
            self.demo_btn.setEnabled(True)
            self.job_bar.stop("" if error is None else ("demo stopped" if error == "stopped" else
                                                        f"the demo failed: {error}"), hide=error is None)
            if error is None:
                self.demoDone.emit(str(folder))

        self.demo_job = start_job(work, on_finished=lambda _r: ended(None), on_failed=ended, on_progress=progress,
                                  parent=self)

    def cancel_demo(self) -> None:
        if self.demo_running:
            self.demo_job.cancel()
            self.job_bar.set_status("stopping…")

    def shutdown(self) -> None:
        if self.demo_running:
            self.demo_job.cancel()
            self.demo_job.wait()
