"""Physical units for people: lengths in nm when the pixel size is known, times in s when the frame rate is.

Everything the pipeline measures is in image pixels and frame numbers;
:class:`Units` turns those into nm and s for labels, tables, plots and
exports, and falls back to px and frames while the calibration is unknown,
so a caller never has to branch on it. :func:`nice_length` picks the
round lengths of scale bars, :func:`pixel_size_from_line` turns a line of
known length drawn on a frame into a pixel size (Fiji's "Set Scale").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..errors import DislocError

#: Lengths a person may give a known distance in, as nm per unit.
LENGTH_UNITS = {"nm": 1.0, "µm": 1000.0, "Å": 0.1}


@dataclass(frozen=True)
class Units:
    """A pixel size (nm per px) and a frame rate (1/s), either of them possibly unknown (None)."""

    pixel_size_nm: Optional[float] = None
    fps: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ("pixel_size_nm", "fps"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise DislocError(f"{name}: must be a positive number or unknown, got {v!r}")

    # -- lengths ----------------------------------------------------------------------
    @property
    def length_unit(self) -> str:
        """``"nm"`` when the pixel size is known, else ``"px"``."""
        return "nm" if self.pixel_size_nm else "px"

    def length(self, px: float) -> float:
        """A length in px in :attr:`length_unit`."""
        return px * self.pixel_size_nm if self.pixel_size_nm else px

    def fmt_length(self, px: float, digits: int = 1) -> str:
        """``"12.3 nm"`` (or ``"12.3 px"`` while the pixel size is unknown)."""
        return f"{self.length(px):.{digits}f} {self.length_unit}"

    def curvature(self, per_px: float) -> float:
        """A curvature in 1/px in 1/:attr:`length_unit`."""
        return per_px / self.pixel_size_nm if self.pixel_size_nm else per_px

    # -- times ---------------------------------------------------------------------------
    @property
    def time_unit(self) -> str:
        """``"s"`` when the frame rate is known, else ``"frame"``."""
        return "s" if self.fps else "frame"

    def time(self, frame: float) -> float:
        """The time of a frame in :attr:`time_unit` (s from the first frame, or the frame number)."""
        return frame / self.fps if self.fps else float(frame)

    def time_s(self, frame: float) -> Optional[float]:
        """The time of a frame in s, or None while the frame rate is unknown."""
        return frame / self.fps if self.fps else None

    # -- speeds ----------------------------------------------------------------------------
    @property
    def velocity_unit(self) -> str:
        """``"nm/s"``, ``"px/s"``, ``"nm/frame"`` or ``"px/frame"``."""
        return f"{self.length_unit}/{self.time_unit}"

    def velocity(self, px_per_frame: float) -> float:
        """A speed in px per frame in :attr:`velocity_unit`."""
        return self.length(px_per_frame) * (self.fps or 1.0)

    # -- words ---------------------------------------------------------------------------------
    def describe(self) -> str:
        """``"0.85 nm/px · 25 frames/s"``, naming what is unknown."""
        px = f"{self.pixel_size_nm:.4g} nm/px" if self.pixel_size_nm else "pixel size unknown"
        fps = f"{self.fps:.4g} frames/s" if self.fps else "frame rate unknown"
        return f"{px} · {fps}"


def nice_length(target: float) -> float:
    """The largest 1, 2 or 5 × 10^k that is not longer than ``target`` (> 0): a scale bar's length."""
    if not target > 0 or not math.isfinite(target):
        raise ValueError(f"target must be positive, got {target}")
    k = math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        v = m * 10.0 ** k
        if v <= target * (1 + 1e-9):
            return v
    return 10.0 ** k


def fmt_scale(length: float, unit: str) -> str:
    """A scale bar's caption: ``"200 nm"``, ``"2 µm"`` (1000 nm and up) or ``"50 px"``."""
    if unit == "nm" and length >= 1000.0:
        return f"{length / 1000.0:g} µm"
    return f"{length:g} {unit}"


def pixel_size_from_line(length_px: float, known_length: float, unit: str = "nm") -> float:
    """Pixel size (nm per px) from a line of ``length_px`` px that is ``known_length`` long in ``unit``.

    Raises
    ------
    DislocError
        A line shorter than 2 px, a length that is not positive, or an unknown unit.
    """
    if unit not in LENGTH_UNITS:
        raise DislocError(f"unit '{unit}': choose one of {', '.join(LENGTH_UNITS)}")
    if not length_px >= 2.0:
        raise DislocError(f"the drawn line is {length_px:.1f} px long; draw it along a feature of known length "
                          "(at least 2 px)")
    if not (math.isfinite(known_length) and known_length > 0):
        raise DislocError(f"known length {known_length!r}: give a positive length")
    return known_length * LENGTH_UNITS[unit] / length_px
