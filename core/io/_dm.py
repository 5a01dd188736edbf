"""Gatan DigitalMicrograph DM3/DM4 files through rosettasciio (an optional extra).

Install with ``pip install rosettasciio`` (or ``pip install
dislocation-studio[dm]``). The file is opened lazily, so a long in-situ
stack is read frame by frame; the spatial calibration gives the pixel size
and a time axis (if any) the frame rate.
"""
from __future__ import annotations

import logging
import math
from typing import Optional

import numpy as np

from ..errors import DislocError
from ._units import plausible_pixel_nm, unit_to_nm
from .dataset import to_gray_float
from .source import FrameReadError, FrameSource

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install rosettasciio"


def _import_reader():
    try:
        from rsciio.digitalmicrograph import file_reader
    except ImportError:
        return None
    return file_reader


class DMSource(FrameSource):
    """Frames of a DM3/DM4 image or image stack (float data is stretched per frame)."""

    kind = "dm"

    def __init__(self, path) -> None:
        super().__init__(path)
        version = _dm_version(self.path)
        if version not in (3, 4):
            raise DislocError(f"{self.path}: not a Gatan DM3/DM4 file (its header does not start like one); "
                              "check that it is the file you meant, or copy it again from the microscope PC")
        file_reader = _import_reader()
        if file_reader is None:
            raise DislocError(f"{self.path}: reading Gatan DM3/DM4 files needs the optional package rosettasciio; "
                              f"install it with '{INSTALL_HINT}', or export the frames as TIFF")
        try:
            signals = file_reader(str(self.path), lazy=True)
        except Exception as e:  # rsciio raises many types for damaged files
            raise DislocError(f"{self.path}: not a readable DM file ({e})") from None
        images = [s for s in signals if np.ndim(s.get("data")) >= 2]
        if not images:
            raise DislocError(f"{self.path}: the DM file holds no image")
        sig = images[0]
        data = sig["data"]
        self._data = data
        self.shape = (int(data.shape[-2]), int(data.shape[-1]))
        self._n = int(math.prod(data.shape[:-2])) if data.ndim > 2 else 1
        axes = list(sig.get("axes") or [])
        self.pixel_size_nm = _pixel_size(axes)
        self.fps = _fps(axes)

    def _read(self, index: int) -> np.ndarray:
        try:
            if self._data.ndim == 2:
                img = self._data
            else:
                lead = np.unravel_index(index, self._data.shape[:-2])
                img = self._data[lead]
            # synchronous: one frame needs no worker threads, and dask's pool would outlive the read
            img = np.asarray(img.compute(scheduler="synchronous") if hasattr(img, "compute") else img)
        except Exception as e:  # damaged block inside the file
            raise FrameReadError(self.path, index, str(e)) from None
        return to_gray_float(img.astype(np.float32) if not np.issubdtype(img.dtype, np.floating) else img)

    def close(self) -> None:
        self._data = None


def _dm_version(path) -> Optional[int]:
    """The format version a DM file starts with (3 or 4, a big-endian 32-bit number), None when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    return int.from_bytes(head, "big") if len(head) == 4 else None


def _pixel_size(axes: list) -> Optional[float]:
    # The last two axes are the image plane (rsciio lists navigation axes first).
    for ax in axes[-2:]:
        nm = unit_to_nm(ax.get("units"))
        if nm is not None and ax.get("scale"):
            return plausible_pixel_nm(float(ax["scale"]) * nm)
    return None


def _fps(axes: list) -> Optional[float]:
    for ax in axes[:-2]:
        scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "min": 60.0}.get(str(ax.get("units") or "").strip())
        if scale and ax.get("scale") and float(ax["scale"]) > 0:
            return 1.0 / (float(ax["scale"]) * scale)
    return None
