"""Fast random draws for the realistic layers (camera grain).

:func:`normal32` draws standard normal numbers through a table of 65536
quantiles indexed by random 16-bit integers: the same distribution to
1/65536 in probability (tails cut at 4.3 sigma), in about half the time of
``Generator.standard_normal`` (float32) on a 512 x 512 frame.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_F = np.float32


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    from scipy.special import ndtri

    return ndtri((np.arange(65536, dtype=np.float64) + 0.5) / 65536.0).astype(_F)


def normal32(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal float32 numbers of ``shape``, by quantile table (see the module's note)."""
    return _normal_table()[rng.integers(0, 65536, size=shape, dtype=np.uint16)]
