"""Step 4 of post-processing: merge masks that show the same dislocation (Dice loss below 0.5)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .boxes import box, pixel_counts


def dice_matrix(masks: np.ndarray, boxes: Optional[list] = None, areas: Optional[np.ndarray] = None) -> np.ndarray:
    """Pairwise Dice coefficient of boolean masks (K, H, W) -> (K, K) float64.

    Intersections are counted only where two masks' bounding boxes overlap:
    dislocation masks are thin, so most pairs are skipped outright (and no
    BLAS call competes for the cores the network needs).
    """
    k = masks.shape[0]
    out = np.zeros((k, k))
    if boxes is None:
        boxes = [box(m) if m.any() else None for m in masks]
        areas = pixel_counts(masks)
    for i in range(k):
        if boxes[i] is None:
            continue
        out[i, i] = 1.0
        r0, r1, c0, c1 = boxes[i]
        for j in range(i + 1, k):
            if boxes[j] is None:
                continue
            s0, s1, d0, d1 = boxes[j]
            y0, y1, x0, x1 = max(r0, s0), min(r1, s1), max(c0, d0), min(c1, d1)
            if y0 >= y1 or x0 >= x1:
                continue
            inter = np.count_nonzero(masks[i, y0:y1, x0:x1] & masks[j, y0:y1, x0:x1])
            out[i, j] = out[j, i] = 2.0 * inter / (areas[i] + areas[j])
    return out


def merge_duplicates(masks: np.ndarray, scores: np.ndarray, max_loss: float, boxes: list, areas: np.ndarray):
    """Indices of the masks to keep (in input order) and, per mask, the ones merged into it.

    Duplicates are merged into the best mask directly, never through chains:
    a mask that covers two different dislocations (a duplicate of each, while
    they are not duplicates of each other) is a "union" mask; it is dropped in
    favour of the two clean ones, whatever its score.
    """
    k = masks.shape[0]
    merged: list[list[int]] = [[] for _ in range(k)]
    if k < 2:
        return list(range(k)), merged
    dice = dice_matrix(masks, boxes, areas)
    dup = (1.0 - dice) < max_loss
    np.fill_diagonal(dup, False)
    union = np.zeros(k, bool)
    for u in range(k):
        d = np.nonzero(dup[u] & (areas < areas[u]))[0]
        if d.size >= 2 and not dup[np.ix_(d, d)].all(where=~np.eye(d.size, dtype=bool)):
            union[u] = True
    # Best first: higher mean probability, then larger; ties broken by input order.
    order = sorted(np.nonzero(~union)[0], key=lambda i: (-round(float(scores[i]), 6), -int(areas[i]), i))
    taken = union.copy()
    keep = []
    for i in order:
        if taken[i]:
            continue
        taken[i] = True
        keep.append(int(i))
        for j in np.nonzero(dup[i] & ~taken)[0]:
            taken[j] = True
            merged[i].append(int(j))
    for u in np.nonzero(union)[0]:
        best = max(keep, key=lambda i: dice[u, i])
        merged[best].append(int(u))
    return sorted(keep), merged
