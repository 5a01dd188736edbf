"""Start the desktop app: ``run_gui()`` (used by ``disloc`` and ``disloc gui``)."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)


def _wait_until(app, ready, timeout_s: float) -> bool:
    """Process events until ``ready()`` is true or the time is up."""
    t0 = time.monotonic()
    while not ready():
        if time.monotonic() - t0 > timeout_s:
            return False
        app.processEvents()
        time.sleep(0.01)  # the renders run in worker threads; don't spin a core while waiting
    return True


def run_gui(project: Optional[str] = None, panel: Optional[str] = None, screenshot: Optional[str] = None,
            settings=None, timeout_s: float = 60.0) -> int:
    """Open the main window; return the exit status.

    Parameters
    ----------
    project : str, optional
        Project folder to open (created when it has no project.json).
    panel : str, optional
        designer, annotate, train, segment or analyse.
    screenshot : str, optional
        Render offscreen, wait until the panel has drawn (first preview, first
        frame), save the window as this PNG and exit.
    settings : QSettings, optional
        Instead of the user's settings (tests, screenshots).
    """
    if screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore, QtWidgets

    from .mainwindow import MainWindow  # importing app.gui configured pyqtgraph

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("Dislocation Studio")
    app.setOrganizationName("DislocationStudio")
    if screenshot and settings is None:
        # A screenshot must not depend on (or change) the user's window state and recent projects.
        settings = QtCore.QSettings(str(Path(screenshot).with_suffix(".tmp.ini")), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    if project:
        win.open_project(project)
    elif not screenshot:  # plain `disloc`: carry on with the last project
        recent = [r for r in win.recent_projects() if (Path(r) / "project.json").exists()]
        if recent:
            win.open_project(recent[0])
    if panel:
        win.show_panel(panel)
    if screenshot:
        win.resize(1280, 720)  # a laptop screen: what the README shows and the tests check
    win.show()
    if not screenshot:
        return app.exec()
    p = win.tabs.currentWidget()
    ok = _wait_until(app, lambda: not hasattr(p, "is_ready") or p.is_ready(), timeout_s)
    if not ok:
        log.warning("the panel did not finish drawing within %.0f s; saving the screenshot anyway", timeout_s)
    for _ in range(5):
        app.processEvents()
    out = Path(screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = win.grab().save(str(out))
    win.close()
    app.processEvents()
    ini = Path(screenshot).with_suffix(".tmp.ini")
    if ini.exists():
        ini.unlink()
    if not saved:
        print(f"disloc gui: could not write {out}", file=sys.stderr)
        return 2
    print(f"saved {out}")
    return 0
