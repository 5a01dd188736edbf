"""What the panels share: the open project, its frames, and one path for messages."""
from __future__ import annotations

import logging
from typing import Optional

from PySide6 import QtCore

from core.analysis.units import Units
from core.errors import DislocError
from core.project.folder import Project

log = logging.getLogger(__name__)


class AppContext(QtCore.QObject):
    """Shared state of one main window.

    Signals
    -------
    projectChanged(object)
        The new :class:`core.project.folder.Project` (or None).
    message(str, str)
        ``(text, level)`` with level ``"info"``, ``"warning"`` or ``"error"``;
        the window shows it in the status bar and the message area.
    pixel(str)
        The pixel under the cursor, for the status bar.
    unitsChanged(object)
        The frames' :class:`core.analysis.units.Units` (pixel size, frame rate)
        after a project, its frames or its calibration changed.
    """

    projectChanged = QtCore.Signal(object)
    message = QtCore.Signal(str, str)
    pixel = QtCore.Signal(str)
    unitsChanged = QtCore.Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project: Optional[Project] = None
        self._frames = None
        self._frames_failed = False
        self.messages: list[tuple[str, str]] = []  # history, newest last (tests read it)

    # -- messages ----------------------------------------------------------------
    def info(self, text: str) -> None:
        self._say(text, "info")

    def warn(self, text: str) -> None:
        self._say(text, "warning")

    def error(self, text: str) -> None:
        self._say(text, "error")

    def _say(self, text: str, level: str) -> None:
        self.messages.append((text, level))
        del self.messages[:-200]
        (log.warning if level != "info" else log.info)(text)
        self.message.emit(text, level)

    # -- project and frames ------------------------------------------------------------
    def set_project(self, project: Optional[Project]) -> None:
        self.close_frames()
        self.project = project
        self.projectChanged.emit(project)
        self.unitsChanged.emit(self.units())

    def frames(self):
        """The project's open FrameSource, or None (after one message) when there is none."""
        if self._frames is not None or self.project is None or self.project.frames is None:
            return self._frames
        if self._frames_failed:
            return None
        try:
            self._frames = self.project.open_frames()
        except DislocError as e:
            self._frames_failed = True  # say it once, not on every slider move
            self.error(f"{e}. Choose the frames again with File > Set frames; the rest of the project is usable.")
            return None
        for w in getattr(self._frames, "warnings", []):
            self.warn(w)
        return self._frames

    def set_frames(self, path) -> None:
        """Reference new frames in the project and tell the panels."""
        if self.project is None:
            raise DislocError("open or create a project first (File > New project)")
        self.project.set_frames(path)
        self.close_frames()
        self.projectChanged.emit(self.project)
        self.unitsChanged.emit(self.units())

    # -- physical units -------------------------------------------------------------------
    def units(self) -> Units:
        """Pixel size and frame rate of the project's frames: the project's, else the file's (may be unknown)."""
        src = self.frames()
        if src is not None:
            return Units(src.pixel_size_nm, src.fps)
        p = self.project
        return Units(p.pixel_size_nm, p.fps) if p is not None else Units()

    def set_calibration(self, pixel_size_nm: Optional[float], fps: Optional[float]) -> Units:
        """Save the project's pixel size (nm/px) and frame rate (1/s), None: the file's; tell the panels.

        Raises DislocError for a value that is not positive, or without a project.
        """
        p = self.project
        if p is None:
            raise DislocError("open or create a project first (File > New project)")
        p.set_calibration(pixel_size_nm, fps)
        src = self._frames
        if src is not None:  # the open source takes the new values (the file's where the project has none)
            file_px, file_fps = (None, None)
            if pixel_size_nm is None or fps is None:
                file_px, file_fps = self.file_calibration()
            src.pixel_size_nm = pixel_size_nm if pixel_size_nm is not None else file_px
            src.fps = fps if fps is not None else file_fps
        units = self.units()
        self.unitsChanged.emit(units)
        return units

    def file_calibration(self) -> tuple[Optional[float], Optional[float]]:
        """Pixel size and frame rate as the frames' file says (None where it says nothing)."""
        p = self.project
        if p is None or p.frames_path is None or not p.frames_path.exists():
            return None, None
        from core.io.frames import open_frames

        try:
            with open_frames(p.frames_path) as src:
                return src.pixel_size_nm, src.fps
        except DislocError:
            return None, None

    def close_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames, self._frames_failed = None, False
