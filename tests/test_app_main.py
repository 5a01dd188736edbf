"""The main window: panels, menus and shortcuts, projects, settings, messages, screenshots."""
import subprocess
import sys

import numpy as np
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


def test_dropping_a_tiff_opens_it_in_a_project_beside_it(qtbot, tmp_path, settings):
    import tifffile

    from app.gui.testing import drop_files

    stack = (np.random.default_rng(0).random((3, 64, 80)) * 255).astype(np.uint8)
    tif = tmp_path / "data" / "run 3.tif"
    tif.parent.mkdir()
    tifffile.imwrite(tif, stack, photometric="minisblack")
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert w.pages.currentWidget() is w.start  # no project yet: the start page
    ann = w.panels["annotate"]
    with qtbot.waitSignal(ann.frameShown, timeout=10000):
        assert drop_files(w.start.recent.viewport(), [tif])  # dropped on a child: the window takes it
    project = w.ctx.project
    assert project.root == (tmp_path / "data" / "run_3-project").resolve()
    assert project.frames_path == tif.resolve() and len(w.ctx.frames()) == 3
    assert w.pages.currentWidget() is w.tabs and ann.frame.shape == (64, 80)
    assert "run 3.tif opened" in w.ctx.messages[-1][0]
    # a second drop of other data opens it in its own project; a file that is no data says so
    (tmp_path / "notes.txt").write_text("hello")
    drop_files(w, [tmp_path / "notes.txt"])
    text, level = w.ctx.messages[-1]
    assert level == "error" and "notes.txt" in text and "TIFF" in text
    assert w.ctx.project.root == project.root
    _close(w)


def test_dropping_frames_on_a_project_without_frames_uses_them(qtbot, tmp_path, settings):
    from app.gui.testing import drop_files, make_frames

    folder = make_frames(tmp_path / "frames", n=2)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.open_project(tmp_path / "p")
    assert w.ctx.project.frames_path is None
    drop_files(w, [folder])
    assert w.ctx.project.root == (tmp_path / "p").resolve() and w.ctx.project.frames_path == folder.resolve()
    _close(w)


def test_start_page_recent_projects_and_the_demo(qtbot, tmp_path, settings):
    import torch

    from core.learn.model import create_model, make_header, save_checkpoint

    old = make_project(tmp_path / "old", n_frames=1)
    settings.setValue("recentProjects", [str(old.root), str(tmp_path / "gone")])
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert w.pages.currentWidget() is w.start
    items = [w.start.recent.item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(w.start.recent.count())]
    assert items == [str(old.root)]  # a project that is gone is not offered
    texts = [b.text() for b in w.start.findChildren(QtWidgets.QPushButton)]
    assert {"Open video…", "Open project…", "Run the demo"} <= set(texts)
    # the demo, small: an untrained network on a 3-frame video
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, create_model("unetplusplus", "resnet18", 4),
                    make_header(arch="unetplusplus", encoder="resnet18", n_masks=4, input_size=64))
    w.start.demo_kwargs = dict(n_frames=3, size=96, model=ckpt, batch_size=1)
    with qtbot.waitSignal(w.start.demoDone, timeout=120000):
        w.start.run_demo(tmp_path / "demo")
    assert w.ctx.project.root == (tmp_path / "demo").resolve() and w.tabs.currentWidget() is w.panels["segment"]
    assert (tmp_path / "demo" / "results" / "demo_video" / "splines.csv").exists()
    _close(w)


# Keys that mean the same thing on every panel that has them.
SHARED_KEYS = {"Esc": r"cancel|drop|stop", "PgUp": r"previous frame", "PgDown": r"next frame",
               "Del": r"delete|remove", "Backspace": r"delete|remove"}


def test_one_meaning_per_shortcut(qtbot, settings):
    import re

    from PySide6 import QtGui

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    meanings: dict[str, set] = {}
    for a in w.findChildren(QtGui.QAction):
        for key in a.shortcuts():
            meanings.setdefault(key.toString(), set()).add(a.text().replace("&", "").rstrip("…").lower())
    for key, texts in meanings.items():
        if len(texts) > 1:
            assert key in SHARED_KEYS, f"{key} means {sorted(texts)}"
            assert all(re.search(SHARED_KEYS[key], t) for t in texts), f"{key} means {sorted(texts)}"
    assert meanings["Ctrl+T"] == {"start training"} and meanings["W"] == {"twin this frame"}
    # and at any moment one action per key is live: the shown panel's
    for key in w.panels:
        w.show_panel(key)
        live = [k.toString() for a in w.findChildren(QtGui.QAction) if a.isEnabled() for k in a.shortcuts()]
        assert len(live) == len(set(live)), (key, sorted(k for k in live if live.count(k) > 1))
    _close(w)


def test_help_and_readme_give_the_same_workflow_order():
    import re

    from app.gui.help import GETTING_STARTED

    help_steps = re.findall(r"<li><b>([^<]+)</b>", GETTING_STARTED)
    readme = (ROOT / "README.md").read_text().split("## What a session looks like", 1)[1].split("\n## ", 1)[0]
    readme_steps = re.findall(r"^\d+\. \*\*([^*]+)\*\*", readme, flags=re.M)
    assert len(help_steps) >= 6
    assert [s.lower() for s in help_steps] == [s.lower() for s in readme_steps]
