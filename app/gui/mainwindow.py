"""The main window: composes the start page, the panels, the menus, the status bar and the message strip.

It also opens what is dropped on it: a project folder, or a video, TIFF
stack, image folder or DM3/DM4 file (:meth:`MainWindow.open_data`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from core.errors import DislocError
from core.io.frames import SUPPORTED
from core.project.folder import PROJECT_FILE, Project, safe_name

from . import workers
from .actions import fill_menu, make_action, set_icons
from .calibration import CalibrationDialog
from .context import AppContext
from .help import show_getting_started
from .panels.analyse import AnalysePanel
from .panels.annotate import AnnotatePanel
from .panels.segment import SegmentPanel
from .panels.train import TrainPanel
from .startpage import StartPage
from .widgets.imagepane import ImagePane
from .widgets.messages import MessageArea

MAX_RECENT = 8
PANELS = ("designer", "annotate", "train", "segment", "analyse")


def default_settings() -> QtCore.QSettings:
    """The user's settings (window state, recent projects)."""
    return QtCore.QSettings("DislocationStudio", "Dislocation Studio")


class MainWindow(QtWidgets.QMainWindow):
    """Tabs of panels over one :class:`AppContext`.

    Parameters
    ----------
    settings : QSettings, optional
        Where window state and recent projects live (tests pass a temporary one).
    """

    def __init__(self, settings: Optional[QtCore.QSettings] = None, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else default_settings()
        self.ctx = AppContext(self)
        self.setWindowTitle("Dislocation Studio")
        self.panels: dict[str, QtWidgets.QWidget] = {}
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self._add_panels()
        self.start = StartPage()
        self.start.openData.connect(self.open_data)
        self.start.openProject.connect(self.open_project)
        self.start.newProject.connect(self.new_project_dialog)
        self.start.demoDone.connect(self._open_demo)
        self.pages = QtWidgets.QStackedWidget()  # the start page until a project is open, then the panels
        self.pages.addWidget(self.start)
        self.pages.addWidget(self.tabs)
        self.messages = MessageArea()
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.pages, 1)
        lay.addWidget(self.messages)
        self.setCentralWidget(central)
        self.pixel_label = QtWidgets.QLabel("")
        self.statusBar().addPermanentWidget(self.pixel_label)
        self.units_btn = QtWidgets.QToolButton()
        self.units_btn.setAutoRaise(True)
        self.units_btn.clicked.connect(self.calibration_dialog)
        self.statusBar().addPermanentWidget(self.units_btn)
        self.ctx.pixel.connect(self.pixel_label.setText)
        self.ctx.message.connect(self._on_message)
        self.ctx.projectChanged.connect(self._on_project)
        self.ctx.unitsChanged.connect(self._on_units)
        self._build_menus()
        self.tabs.currentChanged.connect(self._on_tab)
        self.pages.currentChanged.connect(lambda _i: self._on_tab(self.tabs.currentIndex()))
        self._restore_state()
        self._on_tab(self.tabs.currentIndex())
        self._on_units(self.ctx.units())
        self.start.set_recent(self.recent_projects())
        self.setAcceptDrops(True)

    # -- composition -------------------------------------------------------------------
    def _add_panels(self) -> None:
        try:
            from .panels.designer import DesignerPanel
        except ImportError as e:  # the generator is not installed: say so in its tab
            designer = QtWidgets.QLabel(f"The designer needs core.synth ({e}).")
            designer.title = "Designer"
        else:
            designer = DesignerPanel(self.ctx)
        self.panels["designer"] = designer
        self.panels["annotate"] = AnnotatePanel(self.ctx)
        self.panels["train"] = TrainPanel(self.ctx)
        self.panels["segment"] = SegmentPanel(self.ctx)
        self.panels["analyse"] = AnalysePanel(self.ctx)
        for i, (key, p) in enumerate(self.panels.items()):
            self.tabs.addTab(p, p.title)
            self.tabs.setTabToolTip(i, f"{p.title} (Ctrl+{i + 1})")
        # The panels know nothing of each other; the window wires what one does to another.
        self.panels["train"].modelChosen.connect(lambda _p: self.panels["segment"].refresh_model())
        self.panels["segment"].videoDone.connect(lambda out: self.panels["analyse"].refresh_results(select=out))
        self.panels["segment"].annotateRequested.connect(self.edit_prediction)
        self.panels["annotate"].frameShown.connect(self._apply_pending_edit)
        self.panels["annotate"].scale_source = self.panels["segment"].form.scale_setting
        self._pending_edit: Optional[tuple[int, list]] = None

    def _build_menus(self) -> None:
        A = make_action
        mb = self.menuBar()
        self.file_menu = mb.addMenu("&File")
        self.act_new = A(self, "&New project…", "Ctrl+N", "Create a project folder", self.new_project_dialog)
        self.act_open = A(self, "&Open project…", "Ctrl+O", "Open a project folder", self.open_project_dialog)
        self.act_video = A(self, "Open &video…", None, "A video, TIFF stack, DM3/DM4 file or image, in a project "
                           "made beside it (or in the open project when it has no frames yet)",
                           self.start._choose_video)
        self.recent_menu = QtWidgets.QMenu("Open &recent", self)
        self.act_frames = A(self, "Set &frames…", "Ctrl+Shift+O",
                            "Choose the project's video, TIFF stack or image folder", self.set_frames_dialog)
        self.act_scale = A(self, "&Scale and frame rate…", "Ctrl+K",
                           "The frames' pixel size (nm) and frame rate: typed, from the file, or measured along a "
                           "line of known length", self.calibration_dialog)
        self.act_start = A(self, "S&tart page", None, "Open a video or project, or run the demo",
                           lambda: self.pages.setCurrentWidget(self.start))
        self.act_quit = A(self, "&Quit", "Ctrl+Q", "Close the window", self.close)
        set_icons([(self.act_open, "open")])
        fill_menu(self.file_menu, [self.act_new, self.act_open, self.act_video])
        self.file_menu.addMenu(self.recent_menu)
        fill_menu(self.file_menu, [None, self.act_frames, self.act_scale, None, self.act_start, None, self.act_quit])
        self._fill_recent()
        menus = {"Edit": mb.addMenu("&Edit"), "View": mb.addMenu("&View")}
        for i, key in enumerate(self.panels):
            menus["View"].addAction(A(self, f"{self.panels[key].title} panel", f"Ctrl+{i + 1}", "",
                                      lambda k=key: self.show_panel(k)))
        menus["View"].addSeparator()
        for key, p in self.panels.items():
            for menu_name, actions in (p.menu_actions() if hasattr(p, "menu_actions") else {}).items():
                if menu_name not in menus:
                    menus[menu_name] = mb.addMenu(f"&{menu_name}")
                fill_menu(menus[menu_name], actions + [None])
        help_menu = mb.addMenu("&Help")
        fill_menu(help_menu, [A(self, "&Getting started", "F1", "A short guide", lambda: show_getting_started(self))])

    # -- panels ---------------------------------------------------------------------------
    def show_panel(self, name: str) -> QtWidgets.QWidget:
        """Bring a panel to the front by key (designer, annotate, train, segment, analyse)."""
        if name not in self.panels:
            raise DislocError(f"unknown panel '{name}'; choose one of {', '.join(self.panels)}")
        self.pages.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(self.panels[name])
        return self.panels[name]

    def _on_tab(self, index: int) -> None:
        # on the start page no panel is active: its keys (F5, Delete...) would act on a panel out of sight
        current = self.tabs.widget(index) if self.pages.currentWidget() is self.tabs else None
        for p in self.panels.values():
            if hasattr(p, "set_active"):
                p.set_active(p is current)

    def edit_prediction(self, index: int, curves: list) -> None:
        """Make a prediction frame ``index``'s annotation (support points per dislocation) and open it.

        On a frame without annotated lines the prediction becomes its
        annotation in one undoable step, saved as labelme (core.project.folder).
        On a frame with lines already, nothing of them is replaced: the
        prediction arrives as predicted lines beside them, to accept or discard.
        """
        ann = self.panels["annotate"]
        self._pending_edit = (index, curves)
        self.show_panel("annotate")
        if ann.index == index and ann.fa is not None:
            self._apply_pending_edit(index)
        elif ann.slider.value() != index:
            ann.slider.setValue(index)  # loads the frame; frameShown applies the edit
        else:
            ann.show_frame(index)

    def _apply_pending_edit(self, shown: int) -> None:
        if self._pending_edit is None or shown != self._pending_edit[0]:
            return  # another frame (an older request) arrived first: wait for ours
        index, curves = self._pending_edit
        self._pending_edit = None
        ann = self.panels["annotate"]
        drawn = len(ann.fa) - ann.fa.n_predicted
        if drawn:  # never replace what someone traced without asking: put the prediction beside it
            n = ann.put_predicted(curves)
            self.ctx.info(f"frame {index} has {drawn} annotated lines, kept; {n} predicted lines (dashed) put beside "
                          "them (those along a traced line left out). Accept (Ctrl+Enter), correct or discard them.")
            return
        ann.fa.replace_all(curves)
        path = self.ctx.project.annotation_path(ann.frame_name(index))
        self.ctx.info(f"frame {index}: {len(curves)} predicted dislocations are now its annotation ({path.name}). "
                      "Correct them, then fine-tune in the Train panel.")

    # -- messages ---------------------------------------------------------------------------
    def _on_message(self, text: str, level: str) -> None:
        self.statusBar().showMessage(text, 8000 if level == "info" else 0)
        self.messages.show_message(text, level)

    # -- projects -----------------------------------------------------------------------------
    def open_project(self, folder) -> Optional[Project]:
        """Open (or, for a folder without project.json, create) a project; errors go to the message strip."""
        try:
            folder = Path(folder)
            p = Project.open(folder) if (folder / PROJECT_FILE).exists() else Project.create(folder)
        except (DislocError, OSError) as e:
            self.ctx.error(f"{e}")
            return None
        self.ctx.set_project(p)
        return p

    def _on_project(self, project) -> None:
        if project is None:
            self.setWindowTitle("Dislocation Studio")
            self.pages.setCurrentWidget(self.start)
            return
        self.pages.setCurrentWidget(self.tabs)
        self.setWindowTitle(f"{project.name} — Dislocation Studio")
        recent = [str(project.root)] + [r for r in self.recent_projects() if r != str(project.root)]
        self.settings.setValue("recentProjects", recent[:MAX_RECENT])
        self._fill_recent()
        self.start.set_recent(self.recent_projects())
        frames = project.frames_path
        self.ctx.info(f"project {project.root} opened" + (f"; frames: {frames}" if frames else
                                                          "; choose its frames with File > Set frames"))

    def recent_projects(self) -> list[str]:
        v = self.settings.value("recentProjects", [])
        if isinstance(v, str):  # QSettings returns a lone string for a one-element list
            v = [v]
        return [str(x) for x in (v or [])]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        for r in recent:
            self.recent_menu.addAction(r, lambda r=r: self.open_project(r))
        self.recent_menu.setEnabled(bool(recent))

    def new_project_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose or make an empty folder for the new project")
        if d:
            self.open_project(d)

    def open_project_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a project folder")
        if d:
            self.open_project(d)

    # -- opening data: menus, the start page, drag and drop -------------------------------------
    def open_data(self, path) -> Optional[Project]:
        """Open a project folder, or frames (video, stack, image folder, DM3/DM4, image).

        Frames go into the open project when it has none yet; else into a
        project beside them (``<name>-project``, made on first use), so
        annotations and results have a home. Errors go to the message strip.
        """
        path = Path(path)
        if path.is_dir() and (path / PROJECT_FILE).exists():
            return self.open_project(path)
        if not (path.is_dir() or path.suffix.lower() in SUPPORTED):
            self.ctx.error(f"{path.name}: not a video, TIFF stack, image folder or DM3/DM4 file; "
                           f"drop one of those, or a project folder")
            return None
        p = self.ctx.project
        if p is not None and p.frames_path is None:
            return self._set_frames(path)
        if p is not None and p.frames_path is not None and p.frames_path.resolve() == path.resolve():
            return p
        folder = path.parent / f"{safe_name(path.name)}-project"
        project = self.open_project(folder)
        if project is None:
            return None
        if project.frames_path is None or project.frames_path.resolve() != path.resolve():
            self._set_frames(path)
        self.ctx.info(f"{path.name} opened in the project {folder}: your annotations, datasets, runs and results "
                      "go there")
        return self.ctx.project

    def _set_frames(self, path) -> Optional[Project]:
        try:
            self.ctx.set_frames(path)
        except DislocError as e:
            self.ctx.error(str(e))
            return None
        return self.ctx.project

    def _open_demo(self, folder: str) -> None:
        if self.open_project(folder) is not None:
            self.show_panel("segment")
            self.ctx.info("the demo project: a synthetic glide video, segmented; see Segment (F5) and Analyse")

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        files = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if files:
            ev.acceptProposedAction()
            if len(files) > 1:
                self.ctx.warn(f"{len(files)} items dropped: opening {Path(files[0]).name} (drop one video, stack "
                              "or folder at a time)")
            self.open_data(files[0])

    # -- units ---------------------------------------------------------------------------------------
    def _on_units(self, units) -> None:
        known = units.pixel_size_nm is not None
        self.units_btn.setText(units.describe() if self.ctx.project is not None else "")
        self.units_btn.setVisible(self.ctx.project is not None)
        self.units_btn.setToolTip("Scale and frame rate of the frames (Ctrl+K): set them, or measure the pixel "
                                  "size along a line of known length")
        self.units_btn.setStyleSheet("" if known else "QToolButton { color: #a05a00; }")

    def calibration_dialog(self) -> Optional[CalibrationDialog]:
        if self.ctx.project is None:
            self.ctx.warn("open a project or a video first (File > Open project, or drop a video on the window)")
            return None
        dlg = CalibrationDialog(self.ctx, self._frame_on_screen(), self)
        dlg.setModal(True)
        dlg.show()
        return dlg

    def _frame_on_screen(self):
        """The real frame the current panel shows (to measure a scale on), or None."""
        p = self.tabs.currentWidget()
        if self.pages.currentWidget() is not self.tabs:
            return None
        for pane in (getattr(p, "pane", None), getattr(p, "view", None), getattr(getattr(p, "compare", None), "real", None)):
            if isinstance(pane, ImagePane) and pane.data is not None:
                return pane.data
        return None

    def set_frames_dialog(self) -> None:
        if self.ctx.project is None:
            self.ctx.warn("open or create a project first (File > New project)")
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Choose a video or TIFF stack (Cancel to choose an image folder)", str(self.ctx.project.root),
            "Frames (*.mp4 *.avi *.mov *.mkv *.tif *.tiff *.dm3 *.dm4 *.png);;All files (*)")
        if not path:
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a folder of images",
                                                              str(self.ctx.project.root))
        if path:
            try:
                self.ctx.set_frames(path)
            except DislocError as e:
                self.ctx.error(str(e))

    # -- state ------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
        st = self.settings.value("window/state")
        if st is not None:
            self.restoreState(st)
        tab = self.settings.value("window/panel", "designer")
        if tab in self.panels:
            self.tabs.setCurrentWidget(self.panels[tab])  # shown once a project is open

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        key = next((k for k, p in self.panels.items() if p is self.tabs.currentWidget()), "designer")
        self.settings.setValue("window/panel", key)
        self.settings.sync()

    def closeEvent(self, ev) -> None:
        self.save_state()
        self.start.shutdown()
        for p in self.panels.values():
            if hasattr(p, "shutdown"):
                p.shutdown()
        workers.stop_all()  # cancel and wait: never leave a thread behind
        self.ctx.close_frames()
        super().closeEvent(ev)
