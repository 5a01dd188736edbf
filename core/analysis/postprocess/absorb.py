"""Step 5 of post-processing: a short piece lying on a longer single-line mask is merged into it."""
from __future__ import annotations

import numpy as np

from ..splines import skeleton_path
from .boxes import EIGHT


def absorb_pieces(masks: np.ndarray, keep: list[int], merged: list[list[int]], fraction: float,
                  paths: dict, boxes: list, areas: np.ndarray) -> list[int]:
    """Merge each kept mask that is a short piece of a longer, single-line kept mask into it.

    A piece P goes into a host H when at least ``fraction`` of P's pixels
    lie on H (one pixel of slack), P's skeleton is at most half as long as
    H's, H is as thin as one line (mean width at most 1.5 x P's + 1 px) and
    H's skeleton is one piece that neither branches nor closes. The last two keep a clean
    mask of one dislocation out of a mask that holds two (side by side, or
    crossing), which the metric and the tracks need kept apart. Larger
    masks are settled first. ``paths`` caches skeleton paths by index.
    """
    from scipy import ndimage

    if len(keep) < 2:
        return keep

    def path(i):
        if i not in paths:
            paths[i] = skeleton_path(masks[i], boxes[i])
        return paths[i]

    h, w = masks.shape[1:]
    order = sorted(keep, key=lambda i: (-areas[i], i))
    alive: list[int] = []
    grown: dict[int, tuple] = {}
    for i in order:
        r0, r1, c0, c1 = boxes[i]
        host = None
        for j in alive:
            g0, g1, d0, d1 = grown[j][1]
            y0, y1, x0, x1 = max(r0, g0), min(r1, g1), max(c0, d0), min(c1, d1)
            if y0 >= y1 or x0 >= x1:
                continue
            if np.count_nonzero(masks[i, y0:y1, x0:x1]) < fraction * areas[i]:
                continue  # too little of the piece even lies in the host's box: no dilation needed
            if grown[j][0] is None:  # grown on first use: most masks never meet another's box
                grown[j] = (ndimage.binary_dilation(masks[j, g0:g1, d0:d1], EIGHT), grown[j][1])
            inside = np.count_nonzero(masks[i, y0:y1, x0:x1] & grown[j][0][y0 - g0:y1 - g0, x0 - d0:x1 - d0])
            if inside < fraction * areas[i]:
                continue
            pi, pj = path(i), path(j)
            if pi is None or pj is None or pj.branched or pj.loop or pj.n_pieces > 1:
                continue
            li, lj = max(pi.length_px, 1.0), max(pj.length_px, 1.0)
            if li <= 0.5 * lj and areas[j] / lj <= 1.5 * areas[i] / li + 1.0:
                host = j
                break
        if host is None:
            alive.append(i)
            g0, g1, d0, d1 = max(r0 - 1, 0), min(r1 + 1, h), max(c0 - 1, 0), min(c1 + 1, w)
            grown[i] = (None, (g0, g1, d0, d1))
        else:
            merged[host].extend([i, *merged[i]])
            merged[i] = []
    return sorted(alive)
