"""The post-processing entry point: the steps of the package in their order."""
from __future__ import annotations

import numpy as np

from .absorb import absorb_pieces
from .config import FrameMasks, PostprocessConfig
from .duplicates import merge_duplicates
from .flags import skeleton_flags
from .join import join_ends
from .length import drop_short
from .pieces import find_pieces
from .same_line import same_line


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
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (N, H, W), got shape {probs.shape}")
    n, h, w = probs.shape
    pieces = find_pieces(probs, config)  # steps 1-3
    if pieces is None:
        return FrameMasks.empty(h, w)
    masks, scores, boxes, areas = pieces.masks, pieces.scores, pieces.boxes, pieces.areas
    keep_idx, merged = merge_duplicates(masks, scores, config.merge_dice_loss, boxes, areas)  # step 4
    paths: dict = {}  # skeleton paths by candidate index, computed once and shared by the steps
    keep_idx = absorb_pieces(masks, keep_idx, merged, config.contain_fraction, paths, boxes, areas)  # step 5
    joined: set = set()
    if config.join_gap_px > 0:  # step 6
        keep_idx = join_ends(masks, scores, keep_idx, merged, paths, config, joined, boxes, areas)
        keep_idx = same_line(masks, scores, keep_idx, merged, paths, joined, boxes, areas)
    if config.min_length_px > 0:
        keep_idx = drop_short(masks, keep_idx, config.min_length_px, boxes)
    if not keep_idx:
        return FrameMasks.empty(h, w)
    out_flags, out_paths = [], []
    for i in keep_idx:
        fl = pieces.flags[i] + (["merged"] if merged[i] else []) + (["joined"] if i in joined else [])
        path = None
        if config.check_branches:  # step 7
            more, path = skeleton_flags(masks[i], i, paths, boxes[i])
            fl += more
        out_flags.append(tuple(fl))
        out_paths.append(path)
    return FrameMasks(
        masks=masks[keep_idx],
        scores=scores[keep_idx],
        channels=[pieces.channels[i] for i in keep_idx],
        merged_from=[sorted({pieces.channels[j] for j in merged[i]}) for i in keep_idx],
        flags=out_flags,
        paths=out_paths,
    )
