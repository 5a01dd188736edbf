"""What the panels share: the open project, its frames, and one path for messages."""
from __future__ import annotations

import logging
from typing import Optional

from PySide6 import QtCore

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
    """

    projectChanged = QtCore.Signal(object)
    message = QtCore.Signal(str, str)
    pixel = QtCore.Signal(str)

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

    def close_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames, self._frames_failed = None, False
