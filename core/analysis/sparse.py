"""Masks kept sparse: each one its bounding box in the frame and the boolean crop inside it.

A dislocation is a thin line, so in a large frame its mask is almost all
background; a frame of 10000 x 10000 px with thousands of dislocations
holds them in a few megabytes this way, where a dense (K, H, W) stack would
need terabytes. Tiled segmentation (:mod:`core.analysis.tiled`) works and
joins masks in this form, and the result folder stores them so
(:mod:`core.analysis.results`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from ..io.dataset import pack_sparse, unpack_sparse
from .splines import SkeletonPath, skeleton_path


@dataclass(frozen=True)
class SparseMask:
    """One mask: the bool ``crop`` whose top-left pixel is (``y0``, ``x0``) of the frame, px."""

    y0: int
    x0: int
    crop: np.ndarray

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) in the frame, px, ends exclusive."""
        h, w = self.crop.shape
        return self.y0, self.y0 + h, self.x0, self.x0 + w

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.crop))

    @classmethod
    def from_dense(cls, mask: np.ndarray, y0: int = 0, x0: int = 0) -> "SparseMask":
        """The tight crop of a bool mask (H, W) whose pixel (0, 0) lies at (``y0``, ``x0``) of the frame."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return cls(0, 0, np.zeros((0, 0), bool))
        cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        return cls(y0 + r0, x0 + c0, np.ascontiguousarray(mask[r0:r1, c0:c1], dtype=bool))

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The mask inside the frame window rows ``y0:y1``, columns ``x0:x1`` (bool, False outside the crop)."""
        out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), bool)
        r0, r1, c0, c1 = self.box
        a, b, c, d = max(r0, y0), min(r1, y1), max(c0, x0), min(c1, x1)
        if a < b and c < d:
            out[a - y0:b - y0, c - x0:d - x0] = self.crop[a - r0:b - r0, c - c0:d - c0]
        return out

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        """The whole-frame bool mask (H, W)."""
        return self.window(0, shape[0], 0, shape[1])

    def path(self, shape: tuple[int, int]) -> Optional[SkeletonPath]:
        """The skeleton path in frame px, the same as :func:`core.analysis.splines.skeleton_path` of the dense mask.

        The crop is given the one-pixel margin that function takes around a
        mask's box (cut at the frame's edges), so both thin the same pixels.
        """
        if self.crop.size == 0:
            return None
        r0, r1, c0, c1 = self.box
        a, b, c, d = max(r0 - 1, 0), min(r1 + 1, shape[0]), max(c0 - 1, 0), min(c1 + 1, shape[1])
        p = skeleton_path(self.window(a, b, c, d))
        if p is None:
            return None
        return SkeletonPath(p.xy + np.array([c, a], np.float64), p.length_px, p.side_branch_px, p.n_pieces, p.loop)


def union(masks: Iterable[SparseMask]) -> SparseMask:
    """One mask holding the pixels of all ``masks`` (none empty)."""
    masks = list(masks)
    boxes = np.array([m.box for m in masks])
    r0, r1, c0, c1 = int(boxes[:, 0].min()), int(boxes[:, 1].max()), int(boxes[:, 2].min()), int(boxes[:, 3].max())
    out = np.zeros((r1 - r0, c1 - c0), bool)
    for m in masks:
        a, b, c, d = m.box
        out[a - r0:b - r0, c - c0:d - c0] |= m.crop
    return SparseMask(r0, c0, out)


def from_stack(stack: np.ndarray) -> list[SparseMask]:
    """Sparse masks of a dense bool stack (K, H, W), in order."""
    return [SparseMask.from_dense(m) for m in np.asarray(stack, bool)]


def to_stack(masks: list[SparseMask], shape: tuple[int, int]) -> np.ndarray:
    """The dense bool stack (K, H, W) of sparse masks (for frames small enough to hold it)."""
    out = np.zeros((len(masks), *shape), bool)
    for k, m in enumerate(masks):
        if m.crop.size:
            r0, r1, c0, c1 = m.box
            out[k, r0:r1, c0:c1] = m.crop
    return out


def pack(masks: list[SparseMask], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Arrays for an ``.npz`` file (:func:`core.io.dataset.pack_sparse`)."""
    return pack_sparse(shape, [m.box for m in masks], [m.crop for m in masks])


def unpack(z) -> tuple[tuple[int, int], list[SparseMask]]:
    """The frame shape (H, W) and the masks of :func:`pack` arrays; ValueError when they disagree."""
    shape, boxes, crops = unpack_sparse(z)
    return shape, [SparseMask(int(b[0]), int(b[2]), c) for b, c in zip(boxes, crops)]
