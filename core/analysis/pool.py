"""Pooling the splines of several models of one video: each line once.

Two networks fine-tuned on the same frames, or two epochs of one run, find
many of the same dislocations and some different ones. Putting their splines
together finds more traced lines than either (tem_8um, README: the
fine-tune's chosen epoch with its last epoch, 0.601 -> 0.633 of the traced
lines over three seeds). A line found by both must then be kept once:
:func:`pool_keep` goes through the splines longest first and drops one
when at least :data:`SHARE` of its points lie within :data:`TOL_PX` of a
longer spline already kept. Dislocations of a pileup 4-10 px apart stay
apart; a shorter piece of a line found whole by the other model goes.

Putting the networks' masks together before post-processing, and letting
its duplicate merge choose, found fewer lines than this (README).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

TOL_PX = 3.0  # a point this close to a kept spline lies on it (score_real.py's tolerance)
SHARE = 0.7  # of a spline's points on a longer kept one: the same line (score_real.py's "found")


def _dense(xy: np.ndarray, step: float = 1.0) -> np.ndarray:
    """Points along the polyline ``xy`` (n, 2) at most ``step`` px apart (its vertices included)."""
    seg = np.diff(xy, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / step).astype(int))
    parts = [xy[k] + seg[k] * (np.arange(n[k])[:, None] / n[k]) for k in range(len(seg))]
    return np.concatenate(parts + [xy[-1:]])


def pool_keep(curves: Sequence[Optional[np.ndarray]], tol_px: float = TOL_PX, share: float = SHARE) -> list[int]:
    """Indices of the curves to keep, in their given order.

    Parameters
    ----------
    curves : sequence of (n, 2) arrays or None
        The splines' points (x, y) of one frame from all models, one after
        the other. None (a mask without a spline) is kept: nothing to
        compare it by.
    tol_px, share
        A curve is dropped when at least ``share`` of its points lie within
        ``tol_px`` of a longer curve already kept (ties: the earlier first).
    """
    from scipy.spatial import cKDTree

    lengths = [float(np.hypot(*np.diff(c, axis=0).T).sum()) if c is not None and len(c) > 1 else 0.0
               for c in curves]
    order = sorted(range(len(curves)), key=lambda k: (-lengths[k], k))
    kept: list[int] = []
    trees = []
    for k in order:
        c = curves[k]
        if c is None or len(c) < 2:
            kept.append(k)
            continue
        c = np.asarray(c, float)
        if any((t.query(c)[0] <= tol_px).mean() >= share for t in trees):
            continue
        kept.append(k)
        trees.append(cKDTree(_dense(c)))
    return sorted(kept)
