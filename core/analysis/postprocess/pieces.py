"""Steps 1-3 of post-processing: threshold, remove specks, split each output into its pieces.

One pass per model output: the three steps share its bounding box and its
labelled pieces, so they run together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .boxes import EIGHT, pixel_counts
from .config import PostprocessConfig


@dataclass
class Pieces:
    """The candidate masks of one frame after steps 1-3, all lists indexed alike.

    Attributes
    ----------
    masks : ndarray bool (M, H, W)
    scores : ndarray float32 (M,)
        Mean probability inside each mask (1.0 for boolean input).
    boxes : list of (row0, row1, col0, col1)
        Bounding boxes, px, ends exclusive.
    areas : ndarray int64 (M,)
        Pixels in each mask.
    channels : list of int
        The model output each mask came from.
    flags : list of list of str
        ``split``, ``several_components``.
    """

    masks: np.ndarray
    scores: np.ndarray
    boxes: list
    areas: np.ndarray
    channels: list
    flags: list


def find_pieces(probs: np.ndarray, config: PostprocessConfig) -> Optional[Pieces]:
    """Threshold the outputs (N, H, W), drop specks and blobs, and cut each output into its pieces.

    Returns None when no piece is left.
    """
    from scipy import ndimage

    n, h, w = probs.shape
    binary = probs if probs.dtype == bool else probs > config.threshold
    cand_masks, cand_boxes, cand_areas, cand_scores, cand_ch, cand_flags = [], [], [], [], [], []
    max_area = config.max_area_fraction * h * w
    areas = pixel_counts(binary)
    for c in np.nonzero(areas)[0]:
        if areas[c] > 2 * max_area:  # no set of thin lines covers this much: skip the work
            continue
        b = binary[c]
        rows = np.nonzero(b.any(axis=1))[0]
        cols = np.nonzero(b.any(axis=0))[0]
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = b[r0:r1, c0:c1]
        lab, k = ndimage.label(crop, structure=EIGHT)
        sizes = np.bincount(lab.ravel(), minlength=k + 1)
        keep = np.nonzero(sizes >= max(config.min_size_px, 1))[0]
        keep = keep[keep > 0]
        if keep.size == 0:
            continue
        groups = group_pieces(lab, keep, config.split_gap_px) if keep.size > 1 else [list(keep)]
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
        return None
    return Pieces(np.stack(cand_masks), np.asarray(cand_scores, np.float32), cand_boxes,
                  np.asarray(cand_areas, np.int64), cand_ch, cand_flags)


def group_pieces(lab: np.ndarray, keep: np.ndarray, gap: float) -> list[list[int]]:
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
    glab, _ = ndimage.label(grown, structure=EIGHT)
    piece_group = np.zeros(lab.max() + 1, np.int64)
    where = np.flatnonzero(solid.ravel())
    piece_group[lab.ravel()[where]] = glab.ravel()[where]
    groups: dict[int, list[int]] = {}
    for k in keep:
        groups.setdefault(int(piece_group[k]), []).append(int(k))
    return [sorted(g) for g in groups.values()]
