"""Step 6c of post-processing: drop masks whose skeleton is shorter than ``min_length_px``."""
from __future__ import annotations

import numpy as np


def drop_short(masks: np.ndarray, keep: list[int], min_length_px: float, boxes: list) -> list[int]:
    """The kept masks whose skeleton is at least ``min_length_px`` long (specks in the background go)."""
    return [i for i in keep if not shorter_than(masks[i], min_length_px, boxes[i])]


def shorter_than(mask: np.ndarray, length_px: float, box: tuple) -> bool:
    """Whether the mask's skeleton is shorter than ``length_px``.

    Only small masks can be short: one whose bounding box has a side of at
    least ``length_px`` + 2 is long enough without skeletonising.
    """
    from ...learn.metrics import skeleton_length

    r0, r1, c0, c1 = box
    if max(r1 - r0, c1 - c0) >= length_px + 2:
        return False
    return skeleton_length(mask[r0:r1, c0:c1], min_size=0) < length_px
