"""The settings of post-processing and what it returns for one frame."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...errors import DislocError
from ..splines import SkeletonPath


@dataclass(frozen=True)
class PostprocessConfig:
    """Settings of :func:`~core.analysis.postprocess.postprocess` (px are image pixels).

    ``extend_ends`` is for the spline fit that follows (:func:`core.analysis.splines.mask_to_spline`):
    each spline's ends are prolonged to its mask's edge. ``follow_ridge`` prolongs them further along the
    frame's own dark line while it lasts (:func:`core.analysis.ridgeends.follow_ridge`).
    """

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
    extend_ends: bool = True
    follow_ridge: bool = True

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
        if not isinstance(self.extend_ends, bool):
            raise DislocError(f"postprocess extend_ends must be true or false, got {self.extend_ends!r}")
        if not isinstance(self.follow_ridge, bool):
            raise DislocError(f"postprocess follow_ridge must be true or false, got {self.follow_ridge!r}")

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

    @classmethod
    def empty(cls, height: int, width: int) -> "FrameMasks":
        """No dislocation in a frame of ``height`` x ``width`` px."""
        return cls(np.zeros((0, height, width), bool), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def combined(self) -> np.ndarray:
        """The "all dislocations" mask: bool (H, W), the union of all masks."""
        return self.masks.any(axis=0) if len(self) else np.zeros(self.masks.shape[1:], bool)

    @property
    def n_flagged(self) -> int:
        return sum(1 for f in self.flags if set(f) & {"several_components", "branched", "loop"})
