"""Step 6a of post-processing: join masks that are pieces of one line lying end to end."""
from __future__ import annotations

import numpy as np

from ..splines import skeleton_path
from .boxes import box
from .config import PostprocessConfig

END_PX = 8.0  # the direction of a line's end is taken over its last 8 px
OVERLAP_PX = 15.0  # pieces of one line may overshoot each other by this much (px) and still join
SIDEWAYS_PX = 2.5  # ... when they lie at most this far apart sideways (px): pileup neighbours lie farther


def end_directions(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors pointing out of the first and the last point of a path (x, y)."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    a = xy[0] - xy[min(np.searchsorted(arc, END_PX), len(xy) - 1)]
    b = xy[-1] - xy[max(np.searchsorted(arc, arc[-1] - END_PX, side="right") - 1, 0)]
    return a / max(np.hypot(*a), 1e-9), b / max(np.hypot(*b), 1e-9)


def join_ends(masks: np.ndarray, scores: np.ndarray, keep: list[int], merged: list[list[int]], paths: dict,
              config: PostprocessConfig, joined: set, boxes: list, areas: np.ndarray) -> list[int]:
    """Join masks that are pieces of one line lying end to end; returns the indices still kept.

    Two single-line masks (one piece, no branch, no loop, skeleton at least
    ``END_PX`` long) are pieces of one dislocation when an end of one faces
    an end of the other: the ends are at most ``join_gap_px`` apart, each
    end points at the other within ``join_angle_deg`` and the two lines
    run on rather than side by side; or the two ends overshoot each other
    by at most ``OVERLAP_PX`` while lying within ``SIDEWAYS_PX`` of one
    line (pieces that overlap a little). Neighbours in a pileup end on the same
    slip trace pointing the same way, so they never qualify. The closest,
    straightest pairs go first and each end joins once; chains of pieces
    become one mask. The gap is bridged with a stroke as wide as the
    pieces, so the joined mask is one line (one skeleton, one spline), and
    the joined mask carries the flag ``joined``.
    """
    from scipy import ndimage
    from scipy.cluster.hierarchy import DisjointSet
    from skimage.draw import line

    cos_max = np.cos(np.radians(config.join_angle_deg))
    ends = []  # (mask index, end point xy, outward direction)
    for i in keep:
        if i not in paths:
            paths[i] = skeleton_path(masks[i], boxes[i])
        p = paths[i]
        if p is None or p.branched or p.loop or p.n_pieces > 1 or p.length_px < END_PX or len(p.xy) < 3:
            continue
        da, db = end_directions(p.xy)
        ends.append((i, p.xy[0], da))
        ends.append((i, p.xy[-1], db))
    if len(ends) < 4:
        return keep
    pts = np.array([e[1] for e in ends])
    dirs = np.array([e[2] for e in ends])
    owner = np.array([e[0] for e in ends])
    gap = pts[None, :, :] - pts[:, None, :]  # gap[a, b]: from end a to end b
    dist = np.hypot(gap[..., 0], gap[..., 1])
    unit = gap / np.maximum(dist, 1e-9)[..., None]
    facing_a = np.einsum("abk,ak->ab", unit, dirs)  # end a points at end b
    facing_b = -np.einsum("abk,bk->ab", unit, dirs)  # end b points at end a
    opposed = -(dirs @ dirs.T)  # the two lines run on, not side by side
    close = dist <= 2.0  # touching ends: their gap has no reliable direction
    # Pieces whose ends overshoot each other a little on one line (the ends point away
    # from each other, one line width apart at most sideways) are also one line.
    side_a = np.abs(gap[..., 0] * dirs[:, None, 1] - gap[..., 1] * dirs[:, None, 0])  # end b off the line of end a
    side_b = np.abs(gap[..., 0] * dirs[None, :, 1] - gap[..., 1] * dirs[None, :, 0])
    overlap = ((facing_a <= -cos_max) & (facing_b <= -cos_max) & (dist <= OVERLAP_PX)
               & (np.maximum(side_a, side_b) <= SIDEWAYS_PX))
    # Facing: each end points at the other within the angle, or, across a short gap, ends
    # at most a line width off each other's line (a 3 px offset over 6 px is a 30 deg angle).
    aim_a = (facing_a >= cos_max) | ((facing_a > 0) & (side_a <= SIDEWAYS_PX + 1.0))
    aim_b = (facing_b >= cos_max) | ((facing_b > 0) & (side_b <= SIDEWAYS_PX + 1.0))
    ok = ((dist <= config.join_gap_px) & (owner[:, None] != owner[None, :]) & (opposed >= cos_max)
          & (close | overlap | (aim_a & aim_b)))
    a_idx, b_idx = np.nonzero(np.triu(ok, 1))
    if a_idx.size == 0:
        return keep
    cost = dist[a_idx, b_idx] / config.join_gap_px + (1.0 - opposed[a_idx, b_idx])
    chains = DisjointSet(keep)
    used = set()
    links = []  # (a mask of the chain, end point, end point)
    for k in np.argsort(cost, kind="stable"):
        a, b = int(a_idx[k]), int(b_idx[k])
        if a in used or b in used:
            continue
        if not chains.merge(int(owner[a]), int(owner[b])):  # would close a ring
            continue
        used.update((a, b))
        links.append((int(owner[a]), pts[a], pts[b]))
    groups: dict[int, list[int]] = {}
    for i in keep:
        groups.setdefault(chains[i], []).append(i)
    bridges: dict[int, list] = {}
    for i, p, q in links:
        bridges.setdefault(chains[i], []).append((p, q))
    h, w = masks.shape[1:]
    out = []
    for r, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        sizes = areas[members].astype(np.float64)
        lengths = np.array([max(paths[m].length_px, 1.0) for m in members])
        host = members[int(np.argmax(sizes))]
        radius = max(0.0, (sizes.sum() / lengths.sum() - 1.0) / 2.0)  # half the line width, px
        stroke = np.zeros((h, w), bool)
        for p, q in bridges.get(r, []):
            rr, cc = line(int(round(p[1])), int(round(p[0])), int(round(q[1])), int(round(q[0])))
            stroke[np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)] = True
        if radius >= 0.5:
            rr_, cc_ = np.nonzero(stroke)
            y0, y1 = max(rr_.min() - 3, 0), min(rr_.max() + 4, h)
            x0, x1 = max(cc_.min() - 3, 0), min(cc_.max() + 4, w)
            yy, xx = np.mgrid[-2:3, -2:3]
            disk = np.hypot(yy, xx) <= radius + 0.25
            stroke[y0:y1, x0:x1] = ndimage.binary_dilation(stroke[y0:y1, x0:x1], disk)
        union = stroke | masks[members].any(axis=0)
        scores[host] = float(np.dot(scores[members], sizes) / sizes.sum())
        masks[host] = union
        boxes[host] = box(union)
        areas[host] = np.count_nonzero(union)
        for m in members:
            if m != host:
                merged[host].extend([m, *merged[m]])
                merged[m] = []
        paths[host] = skeleton_path(union, boxes[host])
        joined.add(host)
        out.append(host)
    return sorted(out)
