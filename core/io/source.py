"""What every frame reader gives: a :class:`FrameSource`, and :class:`FrameReadError` for a bad frame.

The readers (``frames.ImageListSource``, ``_tiff.TiffSource``,
``_video.VideoSource``, ``_dm.DMSource``) subclass :class:`FrameSource`;
:func:`core.io.frames.open_frames` picks one. Apart from them, so that a
reader never imports the module that chooses it.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..errors import DislocError
from .fileio import PathLike

log = logging.getLogger(__name__)


class FrameReadError(DislocError):
    """One frame of a source could not be read.

    Attributes
    ----------
    path : Path
        The file (or folder) of the source.
    index : int
        The frame index (0-based).
    """

    def __init__(self, path: PathLike, index: int, reason: str) -> None:
        super().__init__(f"{path}: frame {index} cannot be read ({reason})")
        self.path = Path(path)
        self.index = int(index)



class FrameSource:
    """A sequence of gray frames, read on demand.

    Attributes
    ----------
    path : Path
        What was opened (file or folder).
    kind : str
        ``"video"``, ``"tiff"``, ``"folder"``, ``"image"`` or ``"dm"``.
    fps : float or None
        Frames per second, from the file (video header, ImageJ ``finterval``,
        OME ``TimeIncrement``, DM time axis) or given to :func:`open_frames`.
    pixel_size_nm : float or None
        Size of one pixel in nm, from TIFF resolution / ImageJ / OME tags or
        DM calibration, or given to :func:`open_frames`.
    shape : tuple[int, int]
        (H, W) of every frame, in px.
    warnings : list[str]
        Problems found while opening, one line each.
    """

    kind = "frames"

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.fps: Optional[float] = None
        self.pixel_size_nm: Optional[float] = None
        self.shape: tuple[int, int] = (0, 0)
        self.warnings: list[str] = []
        self._n = 0
        self._lock = threading.RLock()  # the GUI may read from a worker and the UI thread

    # -- to be provided by subclasses ---------------------------------
    def _read(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release files and processes; the source cannot be read afterwards."""

    # -- public ---------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 (H, W) in [0, 1]; raises FrameReadError."""
        index = int(index)
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(f"frame {index} out of range (0..{self._n - 1})")
        with self._lock:
            frame = self._read(index)
        if frame.shape != self.shape:
            raise FrameReadError(self.path, index, f"size {frame.shape[1]}x{frame.shape[0]} px differs from "
                                 f"the first frame's {self.shape[1]}x{self.shape[0]} px")
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frame in self.iter_frames():
            yield frame

    def iter_frames(self, start: int = 0, stop: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` from ``start`` to ``stop`` (exclusive), streaming.

        A frame that cannot be read raises :class:`FrameReadError`; callers
        that want to go on catch it and continue with the next index, e.g.
        ``for i in range(len(src)): try: f = src[i] ...``.
        """
        stop = self._n if stop is None else min(int(stop), self._n)
        for i in range(max(0, int(start)), stop):
            yield i, self[i]

    def name(self, index: int) -> str:
        """A file-name-safe name of frame ``index`` (``frame_000123``; the file stem for folders)."""
        return f"frame_{int(index):06d}"

    def frame_time(self, index: int) -> Optional[float]:
        """Time of frame ``index`` in s from the first frame, or None when the frame rate is unknown."""
        return None if not self.fps else int(index) / self.fps

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.path.name!r} {self._n} frames {self.shape[1]}x{self.shape[0]} px "
                f"fps={self.fps} pixel_size_nm={self.pixel_size_nm}>")

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        log.warning("%s", text)
