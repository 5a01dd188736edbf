"""Spline ends that follow the frame's dark line beyond the network's mask.

A network's mask fades before a dislocation does: where the line turns faint
towards a slip trace or the edge of a pileup, its probability falls below the
threshold and the spline stops short, though the frame still shows the line.
:func:`follow_ridge` walks on from each end of a path along the frame's
dark-ridge response (:func:`ridge_map`), one pixel a step, choosing the
strongest ridge within 1.5 px across its direction, for as long as the ridge
holds at least half the strength it has along the path itself, and no
further than 40 px or a 35° turn away from the end's direction (so it does
not run off along a slip trace that the dislocation ends on). A path
whose own median strength is not among the frame's strongest quarter lies
on no visible line and is left as it is (else it would wander off into
noise).

Measured on the real video ``../shared/realdata/tem_8um`` (README, *Spline
ends*): recall of traced lines 0.436 -> 0.527 for a fine-tuned model (49
frames), 0.125 -> 0.165 for ``realistic.pt`` alone (59 frames).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

RIDGE_SIGMA = 1.5  # px: one scale for lines about 2-5 px wide (three scales, 1-2 px, found three lines more of 904)
STRENGTH = 0.5  # a step needs this share of the path's median ridge strength
MAX_PX = 40  # at most this far beyond each end
MAX_TURN_DEG = 35.0  # from the end's own direction
MISSES = 2  # weak steps allowed in a row (a faint pixel or two); dropped again if the ridge does not come back
BACK_PX = 10  # the end's direction: over this length of the path
FRAME_QUANTILE = 0.75  # a path is followed only if its median strength is among the frame's strongest quarter
STRIP_ROWS = 512  # rows of a frame worked through at a time (memory: a few strips, not a few frames)
_HALO = 8  # rows above and below a strip: the Gaussian's reach (4 sigma, 6 px) and one for the differences
_OFFSETS = np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])


@dataclass(frozen=True)
class RidgeMap:
    """A frame's dark-ridge strength (``strength``, float32 (H, W), >= 0) and the least a step may have (``least``)."""

    strength: np.ndarray
    least: float


def ridge_map(frame: np.ndarray, strip_rows: int = STRIP_ROWS) -> Optional[RidgeMap]:
    """Dark-ridge strength of a grey frame, or None if the frame is flat.

    The frame is smoothed with a Gaussian of :data:`RIDGE_SIGMA` and its
    Hessian taken by central differences; the strength is the larger
    eigenvalue less the magnitude of the smaller one (a line curves across
    itself only; a blob or a broad blotch scores low), floored at 0, which
    is ``2 min(mean, root)`` of the eigenvalues' mean and half-difference.
    Only ratios of strengths are used (:func:`follow_ridge`), so the frame's
    intensity scale does not matter. About 13 ms for a 512 x 512 frame on one core
    (exact Gaussian derivatives at three scales took 60 ms; on ``tem_8um``
    they found 476 of the 904 traced lines where this finds 473).
    Frames are worked through ``strip_rows`` rows at a time (with a margin
    that makes the result the same as in one piece), so a 10000 x 10000
    frame needs the map itself in memory, not six frame-sized arrays.
    NaN and inf pixels count as plain background.
    """
    frame = np.asarray(frame)
    h, w = frame.shape[:2]
    lo, hi, clean = math.inf, -math.inf, True
    for a in range(0, h, strip_rows):
        x = _gray(frame[a:a + strip_rows])
        finite = np.isfinite(x)
        if not finite.all():
            clean, x = False, x[finite]
        if x.size:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    if not lo <= hi or hi - lo < 1e-6 * max(1.0, abs(hi)):
        return None  # no finite pixel, or a flat frame
    fill = np.float32(0.0)
    if not clean:  # the median of the finite pixels (of every k-th row and column of a large frame)
        k = max(1, int(math.sqrt(h * w / 1e6)))
        sub = _gray(frame[::k, ::k])
        fill = np.float32(np.median(sub[np.isfinite(sub)])) if np.isfinite(sub).any() else np.float32(lo)
    scale = np.float32(1.0 / (hi - lo))
    strength = np.zeros((h, w), np.float32)
    for a in range(0, h, strip_rows):
        b = min(h, a + strip_rows)
        a0, b0 = max(0, a - _HALO), min(h, b + _HALO)
        x = _gray(frame[a0:b0])
        if not clean:
            x = np.where(np.isfinite(x), x, fill)
        x = (x - np.float32(lo)) * scale
        strength[a:b] = _strength(x)[a - a0:b - a0]
    return RidgeMap(strength, float(np.quantile(strength[::2, ::2], FRAME_QUANTILE)))


def _gray(rows: np.ndarray) -> np.ndarray:
    """Rows of a frame as float32 grey values (colour channels averaged)."""
    x = np.asarray(rows, np.float32)
    return x.mean(axis=2, dtype=np.float32) if x.ndim == 3 else x


def _strength(img: np.ndarray) -> np.ndarray:
    """:func:`ridge_map`'s strength of a float32 image; its outermost rows and columns are 0."""
    from scipy import ndimage

    g = ndimage.gaussian_filter(img, RIDGE_SIGMA, mode="reflect")
    # second differences on the interior, in place (fresh frame-sized arrays cost as much as the arithmetic)
    mid2 = 2 * g[1:-1, 1:-1]
    hxx = np.add(g[1:-1, 2:], g[1:-1, :-2])
    hxx -= mid2
    hyy = np.add(g[2:, 1:-1], g[:-2, 1:-1])
    hyy -= mid2
    hxy = np.subtract(g[2:, 2:], g[2:, :-2], out=mid2)
    hxy -= g[:-2, 2:]
    hxy += g[:-2, :-2]
    hxy *= np.float32(0.25)
    root = np.subtract(hxx, hyy)  # (hxx - hyy)^2 / 4 + hxy^2, its root
    root *= np.float32(0.5)
    root *= root
    hxy *= hxy
    root += hxy
    np.sqrt(root, out=root)
    hxx += hyy  # the eigenvalues' mean, times 2
    hxx *= np.float32(0.5)
    np.minimum(hxx, root, out=hxx)  # (mean + root) - |mean - root|, halved
    np.maximum(hxx, 0.0, out=hxx)
    hxx *= np.float32(2.0)
    out = np.zeros_like(g)
    out[1:-1, 1:-1] = hxx
    return out


def _sample(ridge: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear ridge strength at (x, y) points; -1 outside the frame."""
    from scipy import ndimage

    h, w = ridge.shape
    ok = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    out = np.full(len(pts), -1.0)
    if ok.any():
        out[ok] = ndimage.map_coordinates(ridge, [pts[ok, 1], pts[ok, 0]], order=1, mode="nearest")
    return out


def _walk(xy: np.ndarray, ridge: np.ndarray, floor: float) -> list:
    """Points beyond the last point of ``xy`` along the ridge (may be empty)."""
    # the end's direction: from the path point about BACK_PX back (arc length) to the end
    seg = np.hypot(*np.diff(xy[::-1], axis=0).T)
    k = int(np.searchsorted(np.cumsum(seg), BACK_PX)) + 1 if len(seg) else 0
    a, p = xy[-1 - min(k, len(xy) - 1)], xy[-1].astype(float)
    d = p - a
    n = math.hypot(d[0], d[1])
    if n == 0:
        return []
    d0 = d = d / n
    cos_max = math.cos(math.radians(MAX_TURN_DEG))
    added, weak = [], 0
    for _ in range(MAX_PX):
        q = p + d
        across = np.array([-d[1], d[0]])
        cands = q[None, :] + _OFFSETS[:, None] * across[None, :]
        vals = _sample(ridge, cands)
        best = int(np.argmax(vals))
        if vals[best] < 0:
            break  # the frame's edge
        if vals[best] < floor:
            weak += 1
            if weak > MISSES:
                break
            p = q
            added.append(q)
            continue
        weak = 0
        step = cands[best] - p
        step = step / max(math.hypot(step[0], step[1]), 1e-9)
        nd = 0.7 * d + 0.3 * step  # turn gently: one noisy pixel does not set the course
        nd = nd / math.hypot(nd[0], nd[1])
        if float(nd @ d0) < cos_max:
            break
        d, p = nd, cands[best]
        added.append(p)
    if weak:
        added = added[:-weak]  # the last steps found no ridge: not part of the line
    return added


def follow_ridge(xy: np.ndarray, ridge: Optional[RidgeMap]) -> np.ndarray:
    """Prolong both ends of a path (N, 2) of (x, y) frame px along the frame's dark ridge.

    ``ridge`` is :func:`ridge_map` of the frame (None: the path unchanged).
    The strength a step needs is :data:`STRENGTH` times the median strength
    along the path, so a faint line is followed as far as it stays as
    visible as the rest of it, and a strong one is not led off into noise.
    """
    xy = np.asarray(xy, float)
    if ridge is None or len(xy) < 3:
        return xy
    along = _sample(ridge.strength, xy)
    along = along[along >= 0]
    if not len(along):
        return xy
    median = float(np.median(along))
    if median <= 0 or median < ridge.least:
        return xy  # the path itself is on no visible line: nothing to follow
    floor = STRENGTH * median
    tail = _walk(xy, ridge.strength, floor)
    head = _walk(xy[::-1], ridge.strength, floor)
    parts = ([np.asarray(head[::-1])] if head else []) + [xy] + ([np.asarray(tail)] if tail else [])
    return np.vstack(parts)
