"""One frame's dislocations as the Segment and Analyse panels show them (Qt-free).

A :class:`FrameView` is made either from the network's probabilities just
now (:func:`view_from_probs`, which runs the post-processing and the spline
fit) or from the files of a batch run
(:meth:`core.analysis.results.ResultIndex.view`). Nothing is recomputed or
reimplemented by the app; it draws what this module gives.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..colors import colour_of
from .postprocess import FrameMasks, PostprocessConfig, postprocess
from .ridgeends import RidgeMap, ridge_map
from .splines import N_POINTS, Spline, mask_to_spline

#: Flags that mean "this mask probably holds more than one dislocation".
MULTI_FLAGS = frozenset({"several_components", "branched", "loop", "several_pieces"})


@dataclass
class FrameView:
    """The dislocations of one frame.

    Attributes
    ----------
    index : int
        Frame number (0-based).
    image : ndarray float32 (H, W)
    masks : ndarray bool (K, H, W)
        Clean masks (duplicates merged).
    splines : list of Spline or None
        The 50-point spline of each mask (None: too small to fit).
    ids : list of int
        Track id of each mask (a batch run) or k + 1 (one frame segmented alone).
    flags : list of tuple of str
        Post-processing and spline warnings per mask.
    merged_from : list of list of int
        Model outputs merged into each mask as duplicates.
    channels : list of int
        The model output each mask came from (-1 when read from files).
    probs : ndarray (N, H, W) or None
        The network's raw probabilities (only for a frame segmented now).
    origin : str
        ``"frame"`` (segmented now) or ``"video"`` (read from a batch run).
    seconds : float
        Time the segmentation took (s), model and post-processing.
    pooled_out : list of int
        Model outputs whose line another model of a pool found too, so left
        out (:func:`view_from_probs` with several models' probabilities).
    model_outputs : tuple of int
        Outputs of each model when ``probs`` holds several models' outputs,
        one model's after the other (empty: one model).
    sources : tuple of str
        What each part of ``model_outputs`` came from, in words (a model's
        file name, and which view of the frame it looked at), when the
        frame was seen in several views (``--mirrors``); else empty.
    """

    index: int
    image: np.ndarray
    masks: np.ndarray
    splines: list
    ids: list
    flags: list
    merged_from: list = field(default_factory=list)
    channels: list = field(default_factory=list)
    probs: Optional[np.ndarray] = None
    origin: str = "frame"
    seconds: float = 0.0
    pooled_out: list = field(default_factory=list)
    model_outputs: tuple = ()
    sources: tuple = ()

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def flagged(self, k: int) -> bool:
        """Whether mask ``k`` probably holds more than one dislocation."""
        return bool(MULTI_FLAGS & set(self.flags[k]))

    def merged(self, k: int) -> bool:
        """Whether duplicate masks or pieces were merged into mask ``k``.

        The "merged" flag says so for a frame read from a batch run (whose
        files do not list the model outputs), ``merged_from`` for a frame
        segmented now; so both views of one frame count the same.
        """
        return bool(self.merged_from and self.merged_from[k]) or "merged" in self.flags[k]

    def n_merged(self) -> int:
        """How many masks hold merged duplicates or pieces."""
        return sum(self.merged(k) for k in range(len(self)))

    def colours(self) -> list[tuple[int, int, int]]:
        return [colour_of(i) for i in self.ids]

    def curves(self) -> list[Optional[np.ndarray]]:
        return [None if s is None else s.xy for s in self.splines]

    def raw_fate(self, channel: int) -> tuple[int, str]:
        """What post-processing did with model output ``channel``: (mask index or -1, words)."""
        for k, c in enumerate(self.channels):
            if c == channel:
                return k, "kept"
        for k, m in enumerate(self.merged_from):
            if channel in m:
                return k, "duplicate, merged"
        if channel in self.pooled_out:
            return -1, f"the same line as {'another view' if self.sources else 'another model'}'s, left out"
        return -1, "empty, specks or too short"


def analyse_probs(probs: np.ndarray, config: PostprocessConfig = PostprocessConfig(),
                  n_points: int = N_POINTS, image: Optional[np.ndarray] = None, ridge: Optional[RidgeMap] = None
                  ) -> tuple[FrameMasks, list[Optional[Spline]]]:
    """Post-process one frame's probabilities (N, H, W) and fit a spline per mask.

    ``image``, the frame, lets the spline ends follow its dark line
    (``config.follow_ridge``), as ``disloc segment`` does; without it they stop at the masks.
    ``ridge``: the frame's :func:`~core.analysis.ridgeends.ridge_map` when already made.
    """
    fm = postprocess(probs, config)
    if ridge is None and image is not None and config.follow_ridge and len(fm):
        ridge = ridge_map(image)
    splines = [mask_to_spline(fm.masks[k], n_points, path=fm.paths[k] if fm.paths else None,
                              extend_ends=config.extend_ends, ridge=ridge) for k in range(len(fm))]
    return fm, splines


def view_from_probs(index: int, image: np.ndarray, probs, config: PostprocessConfig = PostprocessConfig(),
                    seconds: float = 0.0, sources: tuple = ()) -> FrameView:
    """Post-process one frame's probabilities (N, H, W) with core and fit the splines.

    ``probs`` may also be a list of several models' probabilities of the
    frame: each is post-processed, and their lines are put together, each
    once (:func:`core.analysis.pool.pool_keep`), as ``disloc segment`` with
    several ``--model`` does. Model outputs are then numbered on from one
    model to the next (the view's ``probs`` holds them all, in that order);
    ``sources`` names each (:attr:`FrameView.sources`).
    """
    t0 = time.perf_counter()
    several = isinstance(probs, (list, tuple))
    parts = list(probs) if several else [probs]
    # one ridge map for all the models (a single model's analyse_probs makes it only when it found lines)
    ridge = ridge_map(image) if several and config.follow_ridge and image is not None else None
    masks, splines, flags, merged, channels, offset = [], [], [], [], [], 0
    for p in parts:
        fm, sp = analyse_probs(p, config, image=image, ridge=ridge)
        masks.append(fm.masks)
        splines += sp
        flags += [tuple(dict.fromkeys(tuple(fm.flags[k]) + (tuple(s.flags) if s is not None else ())))
                  for k, s in enumerate(sp)]
        merged += [[c + offset for c in m] for m in fm.merged_from]
        channels += [c + offset for c in fm.channels]
        offset += len(p)
    masks = np.concatenate(masks) if len(masks) > 1 else masks[0]
    pooled_out = []
    if len(parts) > 1:
        from .pool import pool_keep

        keep = pool_keep([s.xy if s is not None else None for s in splines])
        kept = set(keep)
        pooled_out = sorted({c for k, c in enumerate(channels) if k not in kept})
        masks, splines, flags = masks[keep], [splines[k] for k in keep], [flags[k] for k in keep]
        merged, channels = [merged[k] for k in keep], [channels[k] for k in keep]
    return FrameView(index, np.asarray(image, np.float32), masks, splines, list(range(1, len(masks) + 1)),
                     flags, merged, channels, np.concatenate(parts) if several else probs, "frame",
                     seconds + time.perf_counter() - t0, pooled_out,
                     tuple(len(p) for p in parts) if len(parts) > 1 else (),
                     tuple(sources) if len(sources) == len(parts) > 1 else ())


def support_points(spline: Spline, n: Optional[int] = None) -> np.ndarray:
    """Support points (P, 2) px for an editable annotation: 6-10 points evenly spread along the spline.

    Longer lines get more points (about one per 25 px), so the cubic spline
    through them follows the predicted line closely and each point is worth
    dragging.
    """
    if n is None:
        n = int(np.clip(round(spline.length_px / 25.0) + 2, 6, 10))
    idx = np.unique(np.round(np.linspace(0, len(spline.x) - 1, n)).astype(int))
    return spline.xy[idx]
