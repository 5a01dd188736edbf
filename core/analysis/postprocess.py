"""Predicted probability masks -> one clean mask per dislocation (paper §6.3).

Per frame, in this order:

1. threshold each of the N predicted masks at 0.5;
2. remove specks: connected pieces smaller than ``min_size_px``; drop
   masks covering more than ``max_area_fraction`` of the frame (a line is
   thin: such a blob is a failed prediction, not a dislocation);
3. split a mask into its separate pieces: pieces farther apart than
   ``split_gap_px`` (default 1 px: any gap) become masks of their own,
   flagged ``split``; pieces closer than that stay together, flagged
   ``several_components``. One network output often holds two or three
   neighbours of a pileup a few px apart; pieces of one broken line are
   put back together by step 6, which looks at their direction, not just
   their distance (on 80 validation images: 12 px without step 6 scored
   0.756, 1 px with it 0.810);
4. merge duplicates: masks whose Dice loss (1 - Dice) is below 0.5 show the
   same dislocation; the one with the higher mean probability is kept (the
   larger one on a tie) and the others are listed in ``merged_from``;
5. absorb pieces: a mask lying almost wholly (``contain_fraction``) on a
   longer single-line mask is a piece of the same dislocation that the Dice
   rule misses (a quarter of a line has Dice loss 0.6 against the whole
   line); it is merged into the longer mask (see :func:`_absorb_pieces` for
   what keeps a clean line out of a two-line mask);
6. join pieces of one line lying end to end: the network often breaks a
   dislocation into two outputs with a gap between them; two single-line
   masks whose ends face each other across at most ``join_gap_px`` (each
   end pointing at the other within ``join_angle_deg``) become one mask,
   the gap bridged, flagged ``joined``; then compare skeletons: a mask
   tracing the same line as a longer one a few px to the side is a
   duplicate, and two that overlap end to end are joined (see
   :func:`_same_line`). Then drop masks whose skeleton is
   shorter than ``min_length_px``: network specks in the background, not lines;
7. flag masks whose skeleton branches (a side branch of at least
   ``splines.BRANCH_MIN_PX``) or closes into a loop: they likely hold more
   than one dislocation.

Splitting goes before merging so that a mask holding two far-apart lines
cannot swallow, as a "duplicate", a clean mask of one of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import DislocError
from .splines import SkeletonPath, resample_polyline, skeleton_path

_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class PostprocessConfig:
    """Settings of :func:`postprocess` (px are image pixels)."""

    threshold: float = 0.5
    min_size_px: int = 20
    merge_dice_loss: float = 0.5
    split_gap_px: float = 1.0
    max_area_fraction: float = 0.25
    contain_fraction: float = 0.8
    min_length_px: float = 20.0
    join_gap_px: float = 30.0
    join_angle_deg: float = 30.0
    check_branches: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise DislocError(f"postprocess threshold must be in (0, 1), got {self.threshold}")
        if self.min_size_px < 0:
            raise DislocError(f"postprocess min_size_px must be >= 0, got {self.min_size_px}")
        if not 0.0 <= self.merge_dice_loss <= 1.0:
            raise DislocError(f"postprocess merge_dice_loss must be in [0, 1], got {self.merge_dice_loss}")
        if self.split_gap_px <= 0:
            raise DislocError(f"postprocess split_gap_px must be > 0, got {self.split_gap_px}")
        if not 0.0 < self.max_area_fraction <= 1.0:
            raise DislocError(f"postprocess max_area_fraction must be in (0, 1], got {self.max_area_fraction}")
        if not 0.0 < self.contain_fraction <= 1.0:
            raise DislocError(f"postprocess contain_fraction must be in (0, 1], got {self.contain_fraction}")
        if self.min_length_px < 0:
            raise DislocError(f"postprocess min_length_px must be >= 0, got {self.min_length_px}")
        if self.join_gap_px < 0:
            raise DislocError(f"postprocess join_gap_px must be >= 0 (0 turns joining off), got {self.join_gap_px}")
        if not 0.0 < self.join_angle_deg < 90.0:
            raise DislocError(f"postprocess join_angle_deg must be in (0, 90), got {self.join_angle_deg}")

    @classmethod
    def from_dict(cls, d: dict) -> "PostprocessConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise DislocError(f"postprocess settings: unknown key '{sorted(unknown)[0]}'")
        return cls(**d)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FrameMasks:
    """The clean masks of one frame.

    Attributes
    ----------
    masks : ndarray, bool (K, H, W)
        One mask per dislocation found.
    scores : ndarray, float32 (K,)
        Mean predicted probability inside each mask (1.0 for boolean input).
    channels : list[int]
        The model output (0..N-1) each mask came from.
    merged_from : list[list[int]]
        Model outputs merged into each mask as duplicates.
    flags : list[tuple[str, ...]]
        ``split``, ``several_components``, ``branched``, ``loop``.
    paths : list[SkeletonPath or None]
        Skeleton paths (reused by the spline fit); None when not computed.
    """

    masks: np.ndarray
    scores: np.ndarray
    channels: list[int] = field(default_factory=list)
    merged_from: list[list[int]] = field(default_factory=list)
    flags: list[tuple[str, ...]] = field(default_factory=list)
    paths: list[Optional[SkeletonPath]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def combined(self) -> np.ndarray:
        """The "all dislocations" mask: bool (H, W), the union of all masks."""
        return self.masks.any(axis=0) if len(self) else np.zeros(self.masks.shape[1:], bool)

    @property
    def n_flagged(self) -> int:
        return sum(1 for f in self.flags if set(f) & {"several_components", "branched", "loop"})


def postprocess(probs: np.ndarray, config: PostprocessConfig = PostprocessConfig()) -> FrameMasks:
    """Clean the predicted masks of one frame.

    Parameters
    ----------
    probs : ndarray (N, H, W)
        Probabilities in [0, 1] (float) or boolean masks, one per model output.
    config : PostprocessConfig

    Returns
    -------
    FrameMasks
    """
    from scipy import ndimage

    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (N, H, W), got shape {probs.shape}")
    n, h, w = probs.shape
    binary = probs if probs.dtype == bool else probs > config.threshold
    cand_masks, cand_boxes, cand_areas, cand_scores, cand_ch, cand_flags = [], [], [], [], [], []
    max_area = config.max_area_fraction * h * w
    areas = _areas(binary)
    for c in np.nonzero(areas)[0]:
        if areas[c] > 2 * max_area:  # no set of thin lines covers this much: skip the work
            continue
        b = binary[c]
        rows = np.nonzero(b.any(axis=1))[0]
        cols = np.nonzero(b.any(axis=0))[0]
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = b[r0:r1, c0:c1]
        lab, k = ndimage.label(crop, structure=_EIGHT)
        sizes = np.bincount(lab.ravel(), minlength=k + 1)
        keep = np.nonzero(sizes >= max(config.min_size_px, 1))[0]
        keep = keep[keep > 0]
        if keep.size == 0:
            continue
        groups = _group_pieces(lab, keep, config.split_gap_px) if keep.size > 1 else [list(keep)]
        if keep.size == k == 1:  # one piece, the whole crop (most outputs): no relabelling
            sizes = np.array([0, sizes[1]])
            pieces = [(groups[0], (slice(0, crop.shape[0]), slice(0, crop.shape[1])), crop)]
        else:
            group_of = np.zeros(k + 1, np.int64)  # piece label -> 1 + group index (0: dropped)
            for gi, g in enumerate(groups):
                group_of[g] = gi + 1
            grouped = group_of[lab]
            sizes = np.bincount(grouped.ravel(), minlength=len(groups) + 1)
            pieces = [(g, sl, grouped[sl] == gi + 1)
                      for gi, (g, sl) in enumerate(zip(groups, ndimage.find_objects(grouped, len(groups))))]
        for gi, (g, sl, piece) in enumerate(pieces):
            if sizes[gi + 1] > max_area:
                continue
            y0, y1, x0, x1 = r0 + sl[0].start, r0 + sl[0].stop, c0 + sl[1].start, c0 + sl[1].stop
            full = np.zeros((h, w), bool)
            full[y0:y1, x0:x1] = piece
            fl = []
            if len(groups) > 1:
                fl.append("split")
            if len(g) > 1:
                fl.append("several_components")
            score = 1.0 if probs.dtype == bool else float(probs[c, y0:y1, x0:x1][piece].mean())
            cand_masks.append(full)
            cand_boxes.append((int(y0), int(y1), int(x0), int(x1)))
            cand_areas.append(int(sizes[gi + 1]))
            cand_scores.append(score)
            cand_ch.append(int(c))
            cand_flags.append(fl)
    if not cand_masks:
        return FrameMasks(np.zeros((0, h, w), bool), np.zeros(0, np.float32))
    masks = np.stack(cand_masks)
    scores = np.asarray(cand_scores, np.float32)
    boxes, areas = cand_boxes, np.asarray(cand_areas, np.int64)
    keep_idx, merged = _merge_duplicates(masks, scores, config.merge_dice_loss, boxes, areas)
    paths: dict = {}
    keep_idx = _absorb_pieces(masks, keep_idx, merged, config.contain_fraction, paths, boxes, areas)
    joined: set = set()
    if config.join_gap_px > 0:
        keep_idx = _join_ends(masks, scores, keep_idx, merged, paths, config, joined, boxes, areas)
        keep_idx = _same_line(masks, scores, keep_idx, merged, paths, joined, boxes, areas)
    if config.min_length_px > 0:
        keep_idx = [i for i in keep_idx if not _shorter_than(masks[i], config.min_length_px, boxes[i])]
    if not keep_idx:
        return FrameMasks(np.zeros((0, h, w), bool), np.zeros(0, np.float32))
    out_flags, out_paths = [], []
    for i in keep_idx:
        fl = cand_flags[i] + (["merged"] if merged[i] else []) + (["joined"] if i in joined else [])
        path = None
        if config.check_branches:
            path = paths[i] if i in paths else skeleton_path(masks[i], boxes[i])
            if path is not None and path.branched:
                fl.append("branched")
            if path is not None and path.loop:
                fl.append("loop")
        out_flags.append(tuple(fl))
        out_paths.append(path)
    return FrameMasks(
        masks=masks[keep_idx],
        scores=scores[keep_idx],
        channels=[cand_ch[i] for i in keep_idx],
        merged_from=[sorted({cand_ch[j] for j in merged[i]}) for i in keep_idx],
        flags=out_flags,
        paths=out_paths,
    )


def _absorb_pieces(masks: np.ndarray, keep: list[int], merged: list[list[int]], fraction: float,
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
                grown[j] = (ndimage.binary_dilation(masks[j, g0:g1, d0:d1], _EIGHT), grown[j][1])
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


_END_PX = 8.0  # the direction of a line's end is taken over its last 8 px
_OVERLAP_PX = 15.0  # pieces of one line may overshoot each other by this much (px) and still join
_SIDEWAYS_PX = 2.5  # ... when they lie at most this far apart sideways (px): pileup neighbours lie farther


def _end_directions(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors pointing out of the first and the last point of a path (x, y)."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    a = xy[0] - xy[min(np.searchsorted(arc, _END_PX), len(xy) - 1)]
    b = xy[-1] - xy[max(np.searchsorted(arc, arc[-1] - _END_PX, side="right") - 1, 0)]
    return a / max(np.hypot(*a), 1e-9), b / max(np.hypot(*b), 1e-9)


def _join_ends(masks: np.ndarray, scores: np.ndarray, keep: list[int], merged: list[list[int]], paths: dict,
               config: PostprocessConfig, joined: set, boxes: list, areas: np.ndarray) -> list[int]:
    """Join masks that are pieces of one line lying end to end; returns the indices still kept.

    Two single-line masks (one piece, no branch, no loop, skeleton at least
    ``_END_PX`` long) are pieces of one dislocation when an end of one faces
    an end of the other: the ends are at most ``join_gap_px`` apart, each
    end points at the other within ``join_angle_deg`` and the two lines
    run on rather than side by side; or the two ends overshoot each other
    by at most ``_OVERLAP_PX`` while lying within ``_SIDEWAYS_PX`` of one
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
        if p is None or p.branched or p.loop or p.n_pieces > 1 or p.length_px < _END_PX or len(p.xy) < 3:
            continue
        da, db = _end_directions(p.xy)
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
    overlap = ((facing_a <= -cos_max) & (facing_b <= -cos_max) & (dist <= _OVERLAP_PX)
               & (np.maximum(side_a, side_b) <= _SIDEWAYS_PX))
    # Facing: each end points at the other within the angle, or, across a short gap, ends
    # at most a line width off each other's line (a 3 px offset over 6 px is a 30 deg angle).
    aim_a = (facing_a >= cos_max) | ((facing_a > 0) & (side_a <= _SIDEWAYS_PX + 1.0))
    aim_b = (facing_b >= cos_max) | ((facing_b > 0) & (side_b <= _SIDEWAYS_PX + 1.0))
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
        boxes[host] = _box(union)
        areas[host] = np.count_nonzero(union)
        for m in members:
            if m != host:
                merged[host].extend([m, *merged[m]])
                merged[m] = []
        paths[host] = skeleton_path(union, boxes[host])
        joined.add(host)
        out.append(host)
    return sorted(out)


def _areas(masks: np.ndarray) -> np.ndarray:
    """Pixels on in each boolean mask (K, H, W) -> (K,) int64.

    One count per mask: ``count_nonzero(axis=...)`` sums through a cast
    instead, about 15 times slower on a frame of 20 masks.
    """
    return np.array([np.count_nonzero(m) for m in masks], np.int64)


_NEAR_PX = 3.0  # a skeleton point this close (px) to another mask's skeleton lies on the same line


def _resample(path: SkeletonPath, step: float = 2.0) -> np.ndarray:
    """Points about every ``step`` px along a skeleton path (x, y), ends included."""
    return resample_polyline(path.xy, max(2, int(np.ceil(path.length_px / step)) + 1))


def _same_line(masks: np.ndarray, scores: np.ndarray, keep: list[int], merged: list[list[int]], paths: dict,
               joined: set, boxes: list, areas: np.ndarray) -> list[int]:
    """Settle single-line masks that trace the same line as a longer one, a few px off.

    The Dice and containment rules compare pixels, so a second trace of a
    line shifted by 2-3 px sideways escapes both. Here skeletons are
    compared: when 80 % of a shorter mask's skeleton lies within
    ``_NEAR_PX`` of a longer single-line mask's skeleton, it is a duplicate
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
        lines[i] = _resample(p)
    if len(lines) < 2:
        return keep

    def tree(j):  # points every 1 px along j: nearest-point distance within 0.5 px of the curve's
        if j not in trees:
            trees[j] = cKDTree(_resample(paths[j], 1.0))
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
            if r0 > s1 + _NEAR_PX or s0 > r1 + _NEAR_PX or c0 > d1 + _NEAR_PX or d0 > c1 + _NEAR_PX:
                continue
            # Quick test first: every accepted case has i's start, middle or end near j.
            probe = lines[i][[0, len(lines[i]) // 2, -1]]
            if (np.hypot(*(probe[:, None, :] - lines[j][None, :, :]).transpose(2, 0, 1)).min()
                    > _NEAR_PX + 2.0):
                continue
            near = tree(j).query(lines[i], distance_upper_bound=_NEAR_PX + 1e-9)[0] <= _NEAR_PX
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
            if np.hypot(*(ends_j[:, None, :] - stretch[None, :, :]).transpose(2, 0, 1)).min() > _NEAR_PX + 1.0:
                continue
            union = masks[i] | masks[j]
            path = skeleton_path(union, _box(union))
            if path is None or path.branched or path.loop or path.n_pieces > 1:
                continue
            host, other = (j, i) if areas[j] >= areas[i] else (i, j)
            scores[host] = float((scores[i] * areas[i] + scores[j] * areas[j]) / (areas[i] + areas[j]))
            masks[host] = union
            boxes[host] = _box(union)
            areas[host] = np.count_nonzero(union)
            paths[host] = path
            lines[host] = _resample(path)
            trees.pop(host, None)
            merged[host].extend([other, *merged[other]])
            merged[other] = []
            joined.add(host)
            gone.add(other)
            if other == j:
                break
    return [i for i in keep if i not in gone]


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1] + 1), int(cols[0]), int(cols[-1] + 1)


def _shorter_than(mask: np.ndarray, length_px: float, box: tuple) -> bool:
    """Whether the mask's skeleton is shorter than ``length_px``.

    Only small masks can be short: one whose bounding box has a side of at
    least ``length_px`` + 2 is long enough without skeletonising.
    """
    from ..learn.metrics import skeleton_length

    r0, r1, c0, c1 = box
    if max(r1 - r0, c1 - c0) >= length_px + 2:
        return False
    return skeleton_length(mask[r0:r1, c0:c1], min_size=0) < length_px


def _group_pieces(lab: np.ndarray, keep: np.ndarray, gap: float) -> list[list[int]]:
    """Groups of labelled pieces that lie within about ``gap`` px of each other (single linkage).

    Growing every piece by ``gap / 2`` (a dilation with a disk, the same as
    thresholding a distance transform) and labelling the result joins exactly
    the pieces closer than ``gap``; one pass, whatever the number of pieces
    (an untrained or confused network can leave hundreds).
    """
    from scipy import ndimage

    kept = np.zeros(lab.max() + 1, bool)
    kept[keep] = True
    solid = kept[lab]
    r = int(np.floor(gap / 2.0))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = yy * yy + xx * xx <= (gap / 2.0) ** 2
    grown = ndimage.binary_dilation(solid, structure=disk) if r > 0 else solid
    glab, _ = ndimage.label(grown, structure=_EIGHT)
    piece_group = np.zeros(lab.max() + 1, np.int64)
    where = np.flatnonzero(solid.ravel())
    piece_group[lab.ravel()[where]] = glab.ravel()[where]
    groups: dict[int, list[int]] = {}
    for k in keep:
        groups.setdefault(int(piece_group[k]), []).append(int(k))
    return [sorted(g) for g in groups.values()]


def dice_matrix(masks: np.ndarray, boxes: Optional[list] = None, areas: Optional[np.ndarray] = None) -> np.ndarray:
    """Pairwise Dice coefficient of boolean masks (K, H, W) -> (K, K) float64.

    Intersections are counted only where two masks' bounding boxes overlap:
    dislocation masks are thin, so most pairs are skipped outright (and no
    BLAS call competes for the cores the network needs).
    """
    k = masks.shape[0]
    out = np.zeros((k, k))
    if boxes is None:
        boxes = [_box(m) if m.any() else None for m in masks]
        areas = _areas(masks)
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


def _merge_duplicates(masks: np.ndarray, scores: np.ndarray, max_loss: float, boxes: list, areas: np.ndarray):
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
