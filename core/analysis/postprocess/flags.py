"""Step 7 of post-processing: flag masks whose skeleton branches or closes into a loop."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..splines import SkeletonPath, skeleton_path


def skeleton_flags(mask: np.ndarray, index: int, paths: dict, box: tuple) -> tuple[list[str], Optional[SkeletonPath]]:
    """``branched`` and/or ``loop`` for one mask (maybe more than one dislocation), with its skeleton path.

    The path cached in ``paths`` by an earlier step is reused; it goes on
    to the spline fit.
    """
    path = paths[index] if index in paths else skeleton_path(mask, box)
    flags = []
    if path is not None and path.branched:
        flags.append("branched")
    if path is not None and path.loop:
        flags.append("loop")
    return flags, path
