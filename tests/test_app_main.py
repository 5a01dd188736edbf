"""The main window: panels, menus and shortcuts, projects, settings, messages, screenshots."""
import subprocess
import sys

import pytest
from PySide6 import QtCore, QtWidgets

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import make_project, temp_settings

from .conftest import ROOT


@pytest.fixture
def settings(tmp_path):
    return temp_settings(tmp_path / "settings")


def _close(w):
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def test_every_panel_is_real(qtbot, settings):
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    titles = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    assert titles == ["Designer", "Annotate", "Train", "Segment", "Analyse"]
    for key in ("train", "segment", "analyse"):
        p = w.show_panel(key)
        assert w.tabs.currentWidget() is p
        assert p.findChildren(QtWidgets.QAbstractButton)
    _close(w)


def test_shortcuts_are_shown_in_menus_and_tooltips(qtbot, settings):
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    a = w.panels["annotate"]
    assert a.act_undo.shortcut().toString() == "Ctrl+Z" and "Ctrl+Z" in a.act_undo.toolTip()
    assert "Ctrl+Shift+Z" in a.act_redo.toolTip()
    menus = {m.title().replace("&", ""): m for m in w.menuBar().findChildren(type(w.file_menu))}
    texts = [act.text() for act in menus["Edit"].actions()]
    assert any("Undo" in t for t in texts)
    assert "Ctrl+G" in w.panels["designer"].act_generate.toolTip()
    help_actions = [act for act in w.menuBar().actions() if act.text() == "&Help"][0].menu().actions()
    assert help_actions[0].shortcut().toString() == "F1"
    _close(w)


def test_panel_shortcuts_only_work_on_their_panel(qtbot, settings):
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show_panel("designer")
    assert not w.panels["annotate"].act_delete.isEnabled()
    w.show_panel("annotate")
    assert w.panels["annotate"].act_delete.isEnabled() and not w.panels["designer"].act_new.isEnabled()
    _close(w)


def test_recent_projects_and_window_state_are_remembered(qtbot, tmp_path, settings):
    p1 = make_project(tmp_path / "p1")
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.open_project(p1.root)
    w.open_project(tmp_path / "p2")  # a plain folder becomes a project
    assert (tmp_path / "p2" / "project.json").exists()
    w.show()
    w.resize(w.width(), 503)  # the offscreen screen is 800x600: restoreGeometry clamps widths to it
    size = (w.width(), w.height())
    w.show_panel("annotate")
    _close(w)
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert w2.recent_projects() == [str((tmp_path / "p2").resolve()), str(p1.root)]
    assert [a.text() for a in w2.recent_menu.actions()][0].endswith("p2")
    assert w2.tabs.currentWidget() is w2.panels["annotate"]
    assert w2.height() == 503
    _close(w2)


def test_unreadable_frames_give_a_message_and_the_project_stays_usable(qtbot, tmp_path, settings):
    p = make_project(tmp_path / "p", n_frames=2)
    bad = p.root / "broken.tif"
    bad.write_bytes(b"this is not a TIFF file")
    p.set_frames(bad)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.open_project(p.root)
    assert "broken.tif" in w.messages.text and "Set frames" in w.messages.text
    assert any("broken.tif" in t and lv == "error" for t, lv in w.ctx.messages)
    # the rest works: the designer still renders and the annotate panel says what to do
    d = w.panels["designer"]
    qtbot.waitUntil(d.is_ready, timeout=20000)
    assert w.panels["annotate"].stack.currentWidget() is w.panels["annotate"].placeholder
    _close(w)


def test_help_page_opens(qtbot, settings):
    from app.gui.help import show_getting_started

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    dlg = show_getting_started(w)
    text = dlg.findChildren(QtWidgets.QTextBrowser)[0].toPlainText()
    assert "Getting started" in text and "Ctrl+Z" in text
    dlg.close()
    _close(w)


def test_screenshot_command(tmp_path):
    p = make_project(tmp_path / "p", n_frames=2, size=(128, 128))
    out = tmp_path / "shot.png"
    cmd = [sys.executable, "-m", "app", "gui", "--project", str(p.root), "--panel", "annotate",
           "--screenshot", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    import imageio.v3 as iio

    img = iio.imread(out)
    assert img.shape[0] > 500 and img.shape[1] > 800 and img.std() > 5  # a real picture, not blank


def test_gui_subcommand_is_registered():
    from app.cli import COMMAND_MODULES

    assert "gui" in COMMAND_MODULES
