"""Helpers for driving the app in tests and benchmarks (offscreen, temporary settings)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from core.io.dataset import to_uint8
from core.io.fileio import atomic_write_png
from core.project.folder import Project


def temp_settings(folder: Path) -> QtCore.QSettings:
    """QSettings in an ini file under ``folder`` (never the user's)."""
    return QtCore.QSettings(str(Path(folder) / "settings.ini"), QtCore.QSettings.Format.IniFormat)


def make_frames(folder: Path, n: int = 3, size: tuple[int, int] = (96, 128), seed: int = 0) -> Path:
    """A folder of ``n`` 8-bit PNG frames: a smooth background with one dark curved line."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        img = 0.55 + 0.1 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + 0.03 * rng.standard_normal((h, w))
        cx = w * 0.4 + 4 * i + 8 * np.sin(yy / h * np.pi)
        img -= 0.25 * np.exp(-((xx - cx) ** 2) / 4.0)
        atomic_write_png(folder / f"frame_{i:03d}.png", to_uint8(img))
    return folder


def make_project(root: Path, n_frames: int = 3, size: tuple[int, int] = (96, 128)) -> Project:
    """A project whose frames are a generated image folder inside it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    frames = make_frames(root / "frames", n_frames, size)
    return Project.create(root, frames=frames)


def click_image(qtbot, pane, x: float, y: float, double: bool = False) -> None:
    """A left click on image pixel (x, y) of an ImagePane, through its viewport."""
    pos = pane.view_to_widget(x, y)
    qtbot.mouseClick(pane.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    if double:
        # What a real double click sends after the first click: a double-click event, then a release
        # (QTest.mouseDClick sends the double-click event alone, which pyqtgraph never completes).
        _send(pane, QtCore.QEvent.Type.MouseButtonDblClick, (x, y), QtCore.Qt.MouseButton.LeftButton,
              QtCore.Qt.MouseButton.LeftButton)
        _send(pane, QtCore.QEvent.Type.MouseButtonRelease, (x, y), QtCore.Qt.MouseButton.LeftButton,
              QtCore.Qt.MouseButton.NoButton)


def _send(pane, kind, xy, button, buttons) -> None:
    vp = pane.viewport()
    p = QtCore.QPointF(pane.view_to_widget(*xy))
    ev = QtGui.QMouseEvent(kind, p, vp.mapToGlobal(p), button, buttons, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(vp, ev)


def drag_image(pane, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """Press at ``start``, move in steps, release at ``end`` (image px), with real mouse events."""
    left = QtCore.Qt.MouseButton.LeftButton

    def send(*a):
        _send(pane, *a)

    send(QtCore.QEvent.Type.MouseButtonPress, start, left, left)
    for k in range(1, steps + 1):
        t = k / steps
        xy = (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        send(QtCore.QEvent.Type.MouseMove, xy, QtCore.Qt.MouseButton.NoButton, left)
        pane.scene()._lastMoveEventTime = 0  # pyqtgraph drops moves closer than its rate limit
    send(QtCore.QEvent.Type.MouseButtonRelease, end, left, QtCore.Qt.MouseButton.NoButton)


def python_threads() -> set[int]:
    return {t.ident for t in threading.enumerate()}


def make_demo_project(root: Path, n_frames: int = 6, size: int = 384, seed: int = 3, annotated: int = 2) -> Project:
    """A project whose frames are a synthetic glide video, the first ``annotated`` frames labelled.

    A small project to look at a panel with::

        python -c "from app.gui.testing import make_demo_project; make_demo_project('/tmp/demo')"
        python -m app gui --project /tmp/demo --panel designer --screenshot /tmp/designer.png

    (the README's screenshots come from ``python -m app.gui.screenshots docs/images``).
    """
    from core.project.annotation import FrameAnnotations
    from core.synth.video import make_glide_video

    root = Path(root)
    frames = make_glide_video(n_frames=n_frames, seed=seed, size=size, shift_px=3.0)
    folder = root / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(frames):
        atomic_write_png(folder / f"frame_{i:04d}.png", s.image_u8())
    project = Project.create(root, frames=folder)
    for i, s in enumerate(frames[:annotated]):
        fa = FrameAnnotations(size, size, [])
        for d in s.dislocations:
            fa.add(d.support)
        project.save_annotations(f"frame_{i:04d}", fa, s.image)
    # one background patch from a corner of the first frame
    project.save_background(frames[0].image[: size // 4, : size // 4], "frame_0000")
    return project


def drop_files(target: QtWidgets.QWidget, paths) -> bool:
    """Drag local files onto ``target`` and drop them there, as a file manager does; True when accepted.

    Sent through the application, so a child that takes no drops passes
    them on to its window, as with a real drag.
    """
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QtCore.QPoint(target.width() // 2, target.height() // 2)
    action, left = QtCore.Qt.DropAction.CopyAction, QtCore.Qt.MouseButton.LeftButton
    none = QtCore.Qt.KeyboardModifier.NoModifier
    enter = QtGui.QDragEnterEvent(pos, action, mime, left, none)
    QtWidgets.QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QtGui.QDropEvent(QtCore.QPointF(pos), action, mime, left, none)
    QtWidgets.QApplication.sendEvent(target, drop)
    return drop.isAccepted()
