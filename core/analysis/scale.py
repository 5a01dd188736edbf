"""The scale of a frame: how wide its lines are, and by how much to resample it for a model.

A network sees lines at the widths and spacings it was trained on. A frame
recorded at another magnification (lines 1 px wide where training had 4,
or 10 px where it had 3) is resampled before the network by the factor
:func:`auto_scale` picks: the model's line width over the frame's. Both
widths come from the same measurement, :func:`measure_line_width`, so
the ratio does not depend on how that measurement is calibrated.
"""
from __future__ import annotations

import logging
import math
from typing import Iterable, Optional

import numpy as np

log = logging.getLogger(__name__)

SIGMAS = tuple(float(s) for s in np.geomspace(0.4, 6.0, 15))  # px: line widths ~1-15 px
TOP_FRACTION = 0.01  # the strongest 1 % of ridge pixels decide the width
MIN_SCALE, MAX_SCALE = 0.25, 4.0
SNAP = 0.15  # factors within 15 % of 1 are taken as 1 (no resampling for nothing)
#: Checkpoint header key: the typical measured width (px) of the lines a model was trained on.
LINE_WIDTH_KEY = "imaged_line_width_px"


GAMMA = 0.75  # Lindeberg's ridge-width normalisation: sigma^(2 gamma); with 3/4 the selected scale tracks the width


def _hessian_ridge(img: np.ndarray, sigma: float) -> np.ndarray:
    """Scale-normalised dark-ridge strength: sigma^(2 gamma) times (larger - |smaller|) Hessian eigenvalue, >= 0."""
    from scipy import ndimage

    hyy = ndimage.gaussian_filter(img, sigma, order=(2, 0), mode="reflect")
    hxx = ndimage.gaussian_filter(img, sigma, order=(0, 2), mode="reflect")
    hxy = ndimage.gaussian_filter(img, sigma, order=(1, 1), mode="reflect")
    mean = 0.5 * (hxx + hyy)
    root = np.sqrt(0.25 * (hxx - hyy) ** 2 + hxy * hxy)
    lam1, lam2 = mean + root, mean - root  # lam1 >= lam2
    # a line curves across it only: a blob or a broad blotch (both eigenvalues large) scores low
    return np.maximum(lam1 - np.abs(lam2), 0.0) * sigma ** (2 * GAMMA)


def measure_line_width(frame: np.ndarray, max_side: int = 1024) -> Optional[float]:
    """The typical width (px) of the dark lines in a frame, or None when it shows none.

    For every pixel the scale that maximises the scale-normalised ridge
    strength is taken (Lindeberg's scale selection with gamma 3/4, which
    favours thin lines over broad blotches of the background); among the
    strongest 1 % of pixels the median selected scale times 2.355 is the
    width. On Gaussian lines of FWHM 3, 6 and 12 px it reads 3.0, 6.5 and
    11.6 px; lines narrower than about 1.5 px read about 1.1 px. Large
    frames are measured on their central ``max_side`` px square.
    """
    img = np.asarray(frame, np.float32)
    if img.ndim != 2 or min(img.shape) < 16:
        return None
    h, w = img.shape
    if max(h, w) > max_side:
        y0, x0 = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
        img = img[y0:y0 + max_side, x0:x0 + max_side]
    lo, hi = np.percentile(img, (1, 99))
    if hi - lo < 1e-6:
        return None
    img = (img - lo) / (hi - lo)
    stack = np.stack([_hessian_ridge(img, s) for s in SIGMAS])
    best = stack.argmax(axis=0)
    strength = stack.max(axis=0)
    cut = np.quantile(strength, 1.0 - TOP_FRACTION)
    top = strength >= cut
    if cut <= 0 or top.sum() < 20:
        return None
    sig = float(np.median(np.asarray(SIGMAS)[best[top]]))
    return 2.3548 * sig


def typical_line_width(frames: Iterable[np.ndarray]) -> Optional[float]:
    """Median :func:`measure_line_width` over several frames (None when no frame shows lines)."""
    ws = [w for w in (measure_line_width(f) for f in frames) if w is not None]
    return float(np.median(ws)) if ws else None


def auto_scale(model_width: Optional[float], frame_width: Optional[float]) -> float:
    """The factor to resample a frame by so its lines look like the model's training lines.

    1.0 when either width is unknown or the two agree to within
    :data:`SNAP`; otherwise ``model_width / frame_width`` clipped to
    [:data:`MIN_SCALE`, :data:`MAX_SCALE`] and rounded to two decimals.
    """
    if not model_width or not frame_width:
        return 1.0
    f = model_width / frame_width
    if abs(math.log(f)) < math.log(1 + SNAP):
        return 1.0
    return float(round(min(max(f, MIN_SCALE), MAX_SCALE), 2))
