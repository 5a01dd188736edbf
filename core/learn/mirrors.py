"""Mirror images of a frame: a model trained on flipped frames looks at each frame several ways.

:class:`core.learn.predict.Predictor` with ``mirror`` "h", "v" or "hv"
puts the frame flipped left-right, upside down or both through the network
(with "t" transposed first: eight views in all) and turns its masks back;
:func:`mirror_predictors` makes those predictors for ``disloc segment
--mirrors`` and the Segment panel, whose splines are then pooled like
several models' (:mod:`core.analysis.pool`). This module imports no torch.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DislocError

#: The views looked at for each ``--mirrors`` count: as it is, left-right ("h"), upside down ("v"), both
#: ("hv"), and (8) each of these transposed first ("t": rows become columns, a quarter turn and a mirror).
MIRRORS = {1: ("",), 2: ("", "h"), 4: ("", "h", "v", "hv"), 8: ("", "h", "v", "hv", "t", "th", "tv", "thv")}

#: Each view in words, as the app's raw-outputs view names it.
VIEW_WORDS = {"": "", "h": "mirrored left-right", "v": "mirrored upside down", "hv": "mirrored both ways",
              "t": "transposed", "th": "transposed, mirrored left-right", "tv": "transposed, mirrored upside down",
              "thv": "transposed, mirrored both ways"}


def check_mirror(mirror: str) -> str:
    """``mirror`` itself when it names a view of :data:`MIRRORS` ("", "h", ..., "thv"); else :class:`DislocError`."""
    if mirror not in MIRRORS[8]:
        raise DislocError(f"mirror must be one of {', '.join(repr(m) for m in MIRRORS[8])}, got {mirror!r}")
    return mirror


def mirror_array(a: np.ndarray, mirror: str, back: bool = False) -> np.ndarray:
    """``a`` (..., H, W) transposed ("t"), then flipped left-right ("h") and/or upside down ("v").

    ``back``: the inverse, from the view back to the frame's orientation
    (the flips first, then the transpose).
    """
    if "t" in mirror and not back:
        a = np.swapaxes(a, -1, -2)
    if "h" in mirror:
        a = a[..., ::-1]
    if "v" in mirror:
        a = a[..., ::-1, :]
    if "t" in mirror and back:
        a = np.swapaxes(a, -1, -2)
    return a


def trained_augmentations(header) -> tuple:
    """The augmentations a checkpoint was trained with (its header's config), () when it does not say.

    A model trained with "flip" sees a mirror image as a frame like the
    others, and with "rot90" also a quarter turn. Fine-tuning on real
    frames does neither (the frames share the video's orientation), and such
    a model finds false lines in a mirror image.
    """
    config = header.get("config") if isinstance(header, dict) else None
    return tuple(config.get("augment") or ()) if isinstance(config, dict) else ()


def mirror_predictors(predictors: list, names: list, mirrors: int) -> list:
    """Each predictor followed by its mirror images (:data:`MIRRORS`), weights shared.

    Raises :class:`DislocError` for a model trained without flipped frames
    (or, for 8 views, quarter turns), such as a fine-tuned one: in those
    views it would find false lines.
    """
    need = ("flip", "rot90") if mirrors == 8 else ("flip",)
    out = []
    for p, name in zip(predictors, names):
        if not set(need) <= set(trained_augmentations(getattr(p, "header", {}))):
            label = Path(name).name if isinstance(name, (str, os.PathLike)) else "this model"
            what = "mirrored and quarter-turned frames" if mirrors == 8 else "mirrored frames"
            raise DislocError(f"{label} was trained without {what} (a fine-tuned model keeps its video's "
                              f"orientation), so these views of a frame would give it false lines; segment "
                              "with mirrors 1 (--mirrors 1; Mirrors 1 in the Segment panel)")
        out += [p.mirrored(m) for m in MIRRORS[mirrors]]
    return out
