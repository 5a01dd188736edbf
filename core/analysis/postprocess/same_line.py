"""Step 6b of post-processing: settle single-line masks that trace the same line as a longer one."""
from __future__ import annotations

import numpy as np

from ..splines import SkeletonPath, resample_polyline, skeleton_path
from .boxes import box

NEAR_PX = 3.0  # a skeleton point this close (px) to another mask's skeleton lies on the same line


def resample(path: SkeletonPath, step: float = 2.0) -> np.ndarray:
    """Points about every ``step`` px along a skeleton path (x, y), ends included."""
    return resample_polyline(path.xy, max(2, int(np.ceil(path.length_px / step)) + 1))


def same_line(masks: np.ndarray, scores: np.ndarray, keep: list[int], merged: list[list[int]], paths: dict,
              joined: set, boxes: list, areas: np.ndarray) -> list[int]:
    """Settle single-line masks that trace the same line as a longer one, a few px off.

    The Dice and containment rules compare pixels, so a second trace of a
    line shifted by 2-3 px sideways escapes both. Here skeletons are
    compared: when 80 % of a shorter mask's skeleton lies within
    ``NEAR_PX`` of a longer single-line mask's skeleton, it is a duplicate
    and merges into it; when only one end of it does, and that stretch
    reaches an end of the longer one, the two overlap end to end and are
    joined into one mask (flagged ``joined``). A mask that meets another
    only in the middle (a crossing, a neighbour touching) stays apart.
    """
    from scipy.spatial import cKDTree

    lines, trees = {}, {}
    for i in keep:
        p = paths.get(i)
        if p is None or p.branched or p.loop or p.n_pieces > 1 or len(p.xy) < 3:
            continue
        lines[i] = resample(p)
    if len(lines) < 2:
        return keep

    def tree(j):  # points every 1 px along j: nearest-point distance within 0.5 px of the curve's
        if j not in trees:
            trees[j] = cKDTree(resample(paths[j], 1.0))
        return trees[j]

    order = sorted(lines, key=lambda i: (-paths[i].length_px, i))
    gone: set = set()
    for a, j in enumerate(order):  # j: the longer line
        if j in gone:
            continue
        for i in order[a + 1:]:  # i: a shorter one
            if i in gone or j in gone:
                continue
            r0, r1, c0, c1 = boxes[i]
            s0, s1, d0, d1 = boxes[j]
            if r0 > s1 + NEAR_PX or s0 > r1 + NEAR_PX or c0 > d1 + NEAR_PX or d0 > c1 + NEAR_PX:
                continue
            # Quick test first: every accepted case has i's start, middle or end near j.
            probe = lines[i][[0, len(lines[i]) // 2, -1]]
            if (np.hypot(*(probe[:, None, :] - lines[j][None, :, :]).transpose(2, 0, 1)).min()
                    > NEAR_PX + 2.0):
                continue
            near = tree(j).query(lines[i], distance_upper_bound=NEAR_PX + 1e-9)[0] <= NEAR_PX
            if not near.any():
                continue
            if near.mean() >= 0.8:
                merged[j].extend([i, *merged[i]])
                merged[i] = []
                gone.add(i)
                continue
            n_near = int(near.sum())
            at_start, at_end = near[:n_near].all(), near[-n_near:].all()
            if n_near < 4 or not (at_start or at_end):
                continue  # meets j in the middle, or only touches it
            # The stretch of i on j must reach one of j's ends: an end-to-end overlap.
            stretch = lines[i][:n_near] if at_start else lines[i][-n_near:]
            ends_j = lines[j][[0, -1]]
            if np.hypot(*(ends_j[:, None, :] - stretch[None, :, :]).transpose(2, 0, 1)).min() > NEAR_PX + 1.0:
                continue
            union = masks[i] | masks[j]
            path = skeleton_path(union, box(union))
            if path is None or path.branched or path.loop or path.n_pieces > 1:
                continue
            host, other = (j, i) if areas[j] >= areas[i] else (i, j)
            scores[host] = float((scores[i] * areas[i] + scores[j] * areas[j]) / (areas[i] + areas[j]))
            masks[host] = union
            boxes[host] = box(union)
            areas[host] = np.count_nonzero(union)
            paths[host] = path
            lines[host] = resample(path)
            trees.pop(host, None)
            merged[host].extend([other, *merged[other]])
            merged[other] = []
            joined.add(host)
            gone.add(other)
            if other == j:
                break
    return [i for i in keep if i not in gone]
