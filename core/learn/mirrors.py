"""Mirror images of a frame: a model trained on flipped frames looks at each frame several ways.

:class:`core.learn.predict.Predictor` with ``mirror`` "h", "v" or "hv"
puts the frame flipped left-right, upside down or both through the network
and flips its masks back; :func:`mirror_predictors` makes those predictors
for ``disloc segment --mirrors`` and the Segment panel, whose splines are
then pooled like several models' (:mod:`core.analysis.pool`). This module
imports no torch.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

from ..errors import DislocError

#: The mirror images looked at for each ``--mirrors`` count: as it is, left-right, upside down, both.
MIRRORS = {1: ("",), 2: ("", "h"), 4: ("", "h", "v", "hv")}


def check_mirror(mirror: str) -> str:
    """``mirror`` itself when it names a mirror image ("", "h", "v" or "hv"); else :class:`DislocError`."""
    if mirror not in MIRRORS[4]:
        raise DislocError(f"mirror must be '', 'h', 'v' or 'hv', got {mirror!r}")
    return mirror


def mirror_array(a: np.ndarray, mirror: str) -> np.ndarray:
    """``a`` (..., H, W) flipped left-right ("h"), upside down ("v") or both ("hv"); its own inverse."""
    if "h" in mirror:
        a = a[..., ::-1]
    if "v" in mirror:
        a = a[..., ::-1, :]
    return a


def trained_with_flips(header) -> bool:
    """Whether a checkpoint's training flipped its frames (so a mirror image is a frame like the others).

    Fine-tuning on real frames does not flip them (the frames share the
    video's orientation), and such a model finds false lines in a mirror
    image.
    """
    config = header.get("config") if isinstance(header, dict) else None
    if isinstance(config, str):
        try:
            config = ast.literal_eval(config)
        except (ValueError, SyntaxError):
            config = None
    return isinstance(config, dict) and "flip" in (config.get("augment") or ())


def mirror_predictors(predictors: list, names: list, mirrors: int) -> list:
    """Each predictor followed by its mirror images (:data:`MIRRORS`), weights shared.

    Raises :class:`DislocError` for a model trained without flipped frames
    (a fine-tuned one): in a mirror image it would find false lines.
    """
    out = []
    for p, name in zip(predictors, names):
        if not trained_with_flips(getattr(p, "header", {})):
            label = Path(name).name if isinstance(name, (str, os.PathLike)) else "this model"
            raise DislocError(f"{label} was trained without mirrored frames (a fine-tuned model keeps its video's "
                              "orientation), so mirror images of a frame would give it false lines; segment "
                              "with mirrors 1 (--mirrors 1; Mirrors 1 in the Segment panel)")
        out += [p.mirrored(m) for m in MIRRORS[mirrors]]
    return out
