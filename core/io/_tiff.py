"""TIFF stacks: page by page through tifffile, with ImageJ/OME/resolution metadata."""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from typing import Optional

import numpy as np

from ..errors import DislocError
from ._units import plausible_pixel_nm, unit_to_nm
from .dataset import to_gray_float
from .source import FrameReadError, FrameSource

log = logging.getLogger(__name__)


class TiffSource(FrameSource):
    """A (multi-page) TIFF: every 2-D plane of the first series is a frame.

    Pages are read one at a time (``TiffFile.asarray(key=i)``); a file whose
    frames are one contiguous block without per-frame pages (large ImageJ
    stacks) is memory-mapped instead. Extra axes (Z, C, T) are flattened in
    file order.
    """

    kind = "tiff"

    def __init__(self, path) -> None:
        super().__init__(path)
        import tifffile

        with _tifffile_notes() as notes:
            try:
                self._tif = tifffile.TiffFile(self.path)
                series = self._tif.series[0]
                shape, axes = tuple(series.shape), series.axes
            except Exception as e:  # tifffile raises many types for damaged files
                raise DislocError(f"{self.path}: not a readable TIFF file ({_first_line(e)}); the file is damaged "
                                  "or not a TIFF image") from None
        if "Y" not in axes or "X" not in axes:
            raise DislocError(f"{self.path}: TIFF image is not 2-D (shape {shape}, axes {axes})")
        self.shape = (int(shape[axes.index("Y")]), int(shape[axes.index("X")]))
        # Every axis but Y, X and S (colour samples) counts frames, in file order.
        lead = [n for a, n in zip(axes, shape) if a not in "YXS"]
        self._n = int(math.prod(lead)) if lead else 1
        announced = _announced_frames(self._tif)
        size = os.path.getsize(self.path)
        end = int(series.dataoffset or 0) + int(series.nbytes) if series.dataoffset is not None else 0
        if announced > self._n or end > size or any("offset" in n or "corrupt" in n for n in notes):
            self.close()
            found = f"only {self._n} can be found" if announced > self._n else "its image data ends early"
            raise DislocError(f"{self.path}: the TIFF file is truncated or damaged (it announces "
                              f"{max(announced, self._n)} frame(s) but {found}); copy it again from its source")
        self._mm = None
        if len(series.pages) != self._n:
            # One IFD for many frames (ImageJ stacks > 4 GB, or hyperstacks written as one block).
            compressed = getattr(series.pages[0], "compression", 1) not in (1, None)
            try:
                mm = tifffile.memmap(self.path, series=0, mode="r")
            except Exception as e:  # compressed or not contiguous: cannot stream it
                why = ("one compressed block that cannot be read frame by frame" if compressed
                       else "one block that cannot be mapped frame by frame")
                self.close()
                raise DislocError(f"{self.path}: frames are stored as {why} ({_first_line(e)}); save the stack "
                                  "with one page per frame") from None
            order = [i for i, a in enumerate(axes) if a not in "YXS"] + [axes.index("Y"), axes.index("X")]
            order += [i for i, a in enumerate(axes) if a == "S"]
            self._mm = mm.transpose(order).reshape(self._n, *self.shape, *(mm.shape[i] for i in order[len(lead) + 2:]))
        self.pixel_size_nm, self.fps = tiff_metadata(self._tif)

    def _read(self, index: int) -> np.ndarray:
        with _tifffile_notes() as notes:
            try:
                if self._mm is not None:
                    img = np.asarray(self._mm[index])
                else:
                    img = self._tif.asarray(key=index, series=0)
            except Exception as e:  # damaged page
                raise FrameReadError(self.path, index, _first_line(e)) from None
        if notes:
            raise FrameReadError(self.path, index, f"damaged page: {notes[0]}")
        img = np.squeeze(img)
        if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[-1] not in (3, 4):
            img = np.moveaxis(img, 0, -1)  # planar RGB page
        return to_gray_float(img)

    def close(self) -> None:
        self._mm = None
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()


@contextlib.contextmanager
def _tifffile_notes():
    """Collect what tifffile logs about a damaged file instead of letting it reach the terminal.

    Our error names the file and says what to do; a second, raw line from
    the library ("invalid page offset") would only confuse.
    """
    notes: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(re.sub(r"^<[^>]*>\s*", "", record.getMessage()))

    logger = logging.getLogger("tifffile")
    handler = _Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield notes
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        for n in notes:
            log.debug("tifffile: %s", n)


def _announced_frames(tif) -> int:
    """Frames the file's own metadata announces (ImageJ ``images``, tifffile's shape), 0 when it says nothing."""
    try:
        if tif.is_imagej and tif.imagej_metadata:
            return int(tif.imagej_metadata.get("images") or 0)
        shaped = tif.shaped_metadata
        if shaped and isinstance(shaped[0], dict) and len(shaped[0].get("shape") or ()) > 2:
            return int(math.prod(shaped[0]["shape"][:-2]))
    except (TypeError, ValueError, IndexError):  # metadata of another writer: not ours to judge
        pass
    return 0


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def tiff_metadata(tif_or_path) -> tuple[Optional[float], Optional[float]]:
    """(pixel size in nm, frames per second) from a TIFF's tags, each None when absent.

    Looks at OME-XML (``PhysicalSizeX``, ``TimeIncrement``), then ImageJ
    (``unit``, ``finterval``/``fps`` with XResolution in pixels per unit),
    then the plain ResolutionUnit (cm, inch) tags. Display resolutions
    such as 72 dpi are ignored.
    """
    import tifffile

    own = not isinstance(tif_or_path, tifffile.TiffFile)
    try:
        tif = tifffile.TiffFile(tif_or_path) if own else tif_or_path
    except Exception as e:  # metadata is optional: do not fail the read for it
        log.debug("no TIFF metadata from %s: %s", tif_or_path, e)
        return None, None
    try:
        return _metadata(tif)
    finally:
        if own:
            tif.close()


def _metadata(tif) -> tuple[Optional[float], Optional[float]]:
    px = fps = None
    if tif.is_ome and tif.ome_metadata:
        px, fps = _ome(tif.ome_metadata)
    page = tif.pages[0]
    xres = page.tags.get("XResolution")
    per_unit = None
    if xres is not None:
        v = xres.value
        num, den = (v if isinstance(v, tuple) else (v, 1))
        per_unit = num / den if den else None  # pixels per unit
    if tif.is_imagej:
        md = tif.imagej_metadata or {}
        if px is None and per_unit:
            nm = unit_to_nm(md.get("unit"))
            if nm is not None:
                px = plausible_pixel_nm(nm / per_unit)
        if fps is None:
            if md.get("finterval"):
                fps = 1.0 / float(md["finterval"])
            elif md.get("fps"):
                fps = float(md["fps"])
    if px is None and per_unit:
        ru = page.tags.get("ResolutionUnit")
        unit = int(ru.value) if ru is not None else 2
        nm = {2: 2.54e7, 3: 1e7}.get(unit)
        if nm is not None:
            px = plausible_pixel_nm(nm / per_unit)
    return px, (fps if fps and fps > 0 else None)


def _ome(xml: str) -> tuple[Optional[float], Optional[float]]:
    px = fps = None
    m = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", xml)
    if not m:
        return None, None
    tag = m.group(0)

    def attr(name):
        a = re.search(rf'\b{name}="([^"]*)"', tag)
        return a.group(1) if a else None

    size = attr("PhysicalSizeX")
    if size:
        nm = unit_to_nm(attr("PhysicalSizeXUnit") or "µm")
        if nm is not None:
            px = plausible_pixel_nm(float(size) * nm)
    dt = attr("TimeIncrement")
    if dt:
        scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0}.get(attr("TimeIncrementUnit") or "s")
        if scale and float(dt) > 0:
            fps = 1.0 / (float(dt) * scale)
    return px, fps
