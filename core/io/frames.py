"""Reading frames: videos, TIFF stacks, folders of images, single images, DM3/DM4.

One entry point, :func:`open_frames`, gives a :class:`FrameSource`::

    with open_frames("run3.mp4") as src:
        print(len(src), src.shape, src.fps, src.pixel_size_nm)
        first = src[0]                  # float32 (H, W) in [0, 1]
        for i, frame in src.iter_frames(start=100):
            ...

Frames stream: a source holds one frame (and, for a video, one ffmpeg
process) at a time, never the whole file, so a 10,000-frame video costs
the memory of one frame. Random access works everywhere (a video seeks,
with sequential reads kept cheap by remembering the decoder's position).

Pixel values: 8- and 16-bit frames are scaled by their type's range
(:func:`core.io.dataset.to_gray_float`), so brightness is comparable across
frames; RGB is made gray. Float data (DM files) is stretched per frame.
Frame sizes are never changed here: the predictor pads or tiles.

A frame that cannot be read raises :class:`FrameReadError` (a
:class:`~core.errors.DislocError` naming the file and the frame index);
problems found on opening (a video whose header announces more frames than
the file holds) are listed in ``src.warnings`` and logged.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DislocError
from .dataset import to_gray_float
from .fileio import TIFF_EXTS, PathLike, read_image_pixels
from .source import FrameReadError, FrameSource

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm", ".ogv")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp") + TIFF_EXTS
DM_EXTS = (".dm3", ".dm4")
SUPPORTED = VIDEO_EXTS + IMAGE_EXTS + DM_EXTS

__all__ = ["FrameSource", "FrameReadError", "open_frames", "natural_key", "is_blank", "SUPPORTED"]


def natural_key(name: str) -> list:
    """Sort key that puts ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def is_blank(frame: np.ndarray, tol: float = 1e-6) -> bool:
    """True when a frame has no contrast at all (all zeros, or one gray value)."""
    return frame.size == 0 or float(frame.max()) - float(frame.min()) <= tol


class ImageListSource(FrameSource):
    """Frames that are separate image files (a folder, or one image)."""

    kind = "folder"

    def __init__(self, path: PathLike, files: list[Path], kind: str = "folder") -> None:
        super().__init__(path)
        self.kind = kind
        self.files = list(files)
        self._n = len(self.files)
        first = self._read(0)
        if first.ndim != 2:
            raise DislocError(f"{self.files[0]}: not a 2-D image (shape {first.shape})")
        self.shape = first.shape
        self._cache = (0, first)
        if self.files[0].suffix.lower() in TIFF_EXTS:
            from ._tiff import tiff_metadata

            self.pixel_size_nm, self.fps = tiff_metadata(self.files[0])
            if kind == "folder":
                self.fps = None  # one file's frame interval says nothing about the folder

    def _read(self, index: int) -> np.ndarray:
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == index:
            return cached[1]
        f = self.files[index]
        try:
            img = read_image_pixels(f)
        except FileNotFoundError:
            raise FrameReadError(f, index, "file not found") from None
        except Exception as e:  # any decoder error from a damaged file
            raise FrameReadError(f, index, f"not a readable image: {e}") from None
        try:
            frame = to_gray_float(img)
        except DislocError as e:
            raise FrameReadError(f, index, str(e)) from None
        self._cache = (index, frame)
        return frame

    def name(self, index: int) -> str:
        return self.files[int(index)].stem


def _folder_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() in IMAGE_EXTS]
    return sorted(files, key=lambda p: natural_key(p.name))


def open_frames(path: PathLike, fps: Optional[float] = None,
                pixel_size_nm: Optional[float] = None) -> FrameSource:
    """Open a video, TIFF stack, folder of images, single image or DM3/DM4 file.

    Parameters
    ----------
    path : str or Path
        MP4/AVI/MOV/MKV video (read through imageio-ffmpeg, which ships
        ffmpeg); multi-page TIFF (page by page); a folder of PNG/TIFF/JPG/BMP
        frames (natural sort: ``f2`` before ``f10``); one image; a Gatan
        DM3/DM4 file (needs the optional ``rosettasciio`` package).
    fps : float, optional
        Frames per second, overriding what the file says (s⁻¹).
    pixel_size_nm : float, optional
        Pixel size in nm, overriding what the file says.

    Returns
    -------
    FrameSource
        Close it (or use ``with``) to stop a video's ffmpeg process.

    Raises
    ------
    DislocError
        Missing, empty, unsupported or unreadable input, with the file named.
    """
    p = Path(path)
    if not p.exists():
        raise DislocError(f"{p}: not found")
    if p.is_dir():
        files = _folder_files(p)
        if not files:
            raise DislocError(f"{p}: folder has no image files ({', '.join(IMAGE_EXTS)})")
        src: FrameSource = ImageListSource(p, files, kind="folder")
    else:
        ext = p.suffix.lower()
        if p.stat().st_size == 0:
            raise DislocError(f"{p}: file is empty (0 bytes)")
        if ext in VIDEO_EXTS:
            from ._video import VideoSource

            src = VideoSource(p)
        elif ext in TIFF_EXTS:
            from ._tiff import TiffSource

            src = TiffSource(p)
        elif ext in DM_EXTS:
            from ._dm import DMSource

            src = DMSource(p)
        elif ext in IMAGE_EXTS:
            src = ImageListSource(p, [p], kind="image")
        else:
            raise DislocError(f"{p}: unsupported file type '{ext}'; use a video ({', '.join(VIDEO_EXTS[:4])}), "
                              f"TIFF stack, image ({', '.join(IMAGE_EXTS[:4])}), DM3/DM4 or a folder of images")
    if len(src) == 0:
        src.close()
        raise DislocError(f"{p}: contains no frames")
    if fps is not None:
        if not fps > 0:
            raise DislocError(f"fps must be positive, got {fps}")
        src.fps = float(fps)
    if pixel_size_nm is not None:
        if not pixel_size_nm > 0:
            raise DislocError(f"pixel size must be positive (nm), got {pixel_size_nm}")
        src.pixel_size_nm = float(pixel_size_nm)
    return src
