"""Frames of any size, tile by tile: each tile its own N masks, joined where a dislocation crosses a border.

The network has N outputs, so a frame holds at most N dislocations, and a
frame of 10000 x 10000 px does not fit in memory as N probability maps. So
a large frame (or every frame, with ``SegmentConfig.tile_px``) is cut into
overlapping tiles that the predictor streams
(:meth:`core.learn.predict.Predictor.iter_tiles`); each tile's N maps are
post-processed inside the tile (:mod:`core.analysis.postprocess`), its
masks kept sparse (:mod:`core.analysis.sparse`), and the maps dropped.
Then masks of neighbouring tiles that show one dislocation in the strip
where the tiles overlap are joined into one mask:

* their parts in the overlap agree by the paper's rule (Dice loss < 0.5),
  or the smaller part lies almost wholly (80 %) on the larger (one px of
  slack), so a line that one tile sees only in part is still joined;
* a mask that joins nothing and lies wholly outside its tile's core (the
  tile's own share of the frame, up to the middle of each overlap) is
  left to the neighbour that sees it in its core, with more context.

Memory is one frame, one batch of tiles and the sparse masks, whatever the
frame's size.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .postprocess import PostprocessConfig, postprocess
from .sparse import SparseMask, union
from .splines import SkeletonPath

log = logging.getLogger(__name__)

#: Frames with a side above this (px, as the network sees them) are tiled even when no tile side is set.
MAX_WHOLE_SIDE = 1024
#: The tile side used for them (px).
DEFAULT_TILE_PX = 512
MIN_TILE_PX, MAX_TILE_PX = 128, 4096

JOIN_MIN_DICE = 0.5  # the paper's same-dislocation rule, on the parts in the overlap
JOIN_CONTAINED = 0.8  # ... or this much of the smaller part on the larger
JOIN_MIN_PX = 8  # parts smaller than this in the overlap are judged by Dice alone


def overlap_for(tile_px: int) -> int:
    """The overlap of neighbouring tiles (px): an eighth of the tile, at least 64 px."""
    return max(64, tile_px // 8)


def tile_plan(shape: tuple[int, int], tile_px: int, scale: float = 1.0) -> Optional[tuple[int, int]]:
    """(tile side, overlap) in network px for frames of ``shape`` (H, W) px, or None: predict them whole.

    ``tile_px`` 0: only frames above :data:`MAX_WHOLE_SIDE` px a side (after
    resampling by ``scale``) are tiled, at :data:`DEFAULT_TILE_PX`; a number:
    every frame is tiled at that side.
    """
    if tile_px:
        return int(tile_px), overlap_for(int(tile_px))
    if max(shape) * scale > MAX_WHOLE_SIDE:
        return DEFAULT_TILE_PX, overlap_for(DEFAULT_TILE_PX)
    return None


@dataclass
class FoundMask:
    """One dislocation found in a tiled frame: its mask, post-processing flags and skeleton path (frame px)."""

    mask: SparseMask
    flags: tuple[str, ...]
    path: Optional[SkeletonPath]


@dataclass
class _Candidate:
    tile: int
    mask: SparseMask
    flags: tuple[str, ...]
    path: Optional[SkeletonPath]
    in_core: bool


def segment_tiled(predictor, frame: np.ndarray, config: PostprocessConfig, tile_px: int, overlap_px: int,
                  scale: float = 1.0) -> list[FoundMask]:
    """The dislocations of one frame of any size, tile by tile (see the module's text).

    Parameters
    ----------
    predictor : core.learn.predict.Predictor
        Anything with its ``iter_tiles(frame, tile_px, overlap_px, scale)``.
    frame : ndarray float (H, W) in [0, 1]
    config : PostprocessConfig
        Applied inside each tile.
    tile_px, overlap_px : int
        Tile side and overlap as the network sees them (px).
    scale : float
        Resampling before the network (masks stay in frame px).

    Returns
    -------
    list of FoundMask
        In the order of the tiles (raster order), then of the masks in a tile.
    """
    h, w = frame.shape
    tiles: list[tuple[int, int, int, int]] = []  # (y0, y1, x0, x1) of each tile's part of the frame
    cands: list[_Candidate] = []
    for y, x, probs in predictor.iter_tiles(frame, tile_px, overlap_px, scale):
        t = len(tiles)
        th, tw = probs.shape[1:]
        tiles.append((y, y + th, x, x + tw))
        fm = postprocess(probs, config)
        for k in range(len(fm)):
            m = SparseMask.from_dense(fm.masks[k], y, x)
            if m.crop.size == 0:
                continue
            p = fm.paths[k] if fm.paths else None
            if p is not None:
                p = SkeletonPath(p.xy + np.array([x, y], np.float64), p.length_px, p.side_branch_px, p.n_pieces,
                                 p.loop)
            cands.append(_Candidate(t, m, tuple(fm.flags[k]), p, False))
        del probs, fm
    cores = _cores(tiles, h, w)
    for c in cands:
        c.in_core = _meets(c.mask.box, cores[c.tile])
    return _join(cands, tiles, (h, w), config)


def _cores(tiles: list, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Each tile's own share of the frame: its rectangle, cut at the middle of every overlap with a neighbour."""
    ys = sorted({(t[0], t[1]) for t in tiles})
    xs = sorted({(t[2], t[3]) for t in tiles})

    def cut(spans, length):
        out = {}
        for i, (a, b) in enumerate(spans):
            lo = 0 if i == 0 else (a + spans[i - 1][1]) // 2
            hi = length if i == len(spans) - 1 else (spans[i + 1][0] + b) // 2
            out[(a, b)] = (lo, hi)
        return out

    cy, cx = cut(ys, h), cut(xs, w)
    return [(*cy[(t[0], t[1])], *cx[(t[2], t[3])]) for t in tiles]


def _meets(box: tuple, rect: tuple) -> bool:
    return box[0] < rect[1] and rect[0] < box[1] and box[2] < rect[3] and rect[2] < box[3]


def _join(cands: list[_Candidate], tiles: list, shape: tuple[int, int], config: PostprocessConfig) -> list[FoundMask]:
    """Join candidates of neighbouring tiles that show one dislocation in their overlap."""
    from scipy import ndimage
    from scipy.cluster.hierarchy import DisjointSet

    by_tile: dict[int, list[int]] = {}
    for i, c in enumerate(cands):
        by_tile.setdefault(c.tile, []).append(i)
    sets = DisjointSet(range(len(cands)))
    for a in range(len(tiles)):
        for b in range(a + 1, len(tiles)):
            band = (max(tiles[a][0], tiles[b][0]), min(tiles[a][1], tiles[b][1]),
                    max(tiles[a][2], tiles[b][2]), min(tiles[a][3], tiles[b][3]))
            if band[0] >= band[1] or band[2] >= band[3]:
                continue
            ia = [i for i in by_tile.get(a, []) if _meets(cands[i].mask.box, band)]
            ib = [i for i in by_tile.get(b, []) if _meets(cands[i].mask.box, band)]
            if not ia or not ib:
                continue
            parts = {i: cands[i].mask.window(*band) for i in ia + ib}
            areas = {i: int(np.count_nonzero(p)) for i, p in parts.items()}
            grown: dict[int, np.ndarray] = {}
            for i in ia:
                for j in ib:
                    if not areas[i] or not areas[j] or sets.connected(i, j):
                        continue
                    if not _meets(_grow(cands[i].mask.box, 1), cands[j].mask.box):
                        continue
                    inter = np.count_nonzero(parts[i] & parts[j])
                    same = 2.0 * inter >= JOIN_MIN_DICE * (areas[i] + areas[j])
                    if not same:
                        small, large = (i, j) if areas[i] <= areas[j] else (j, i)
                        if areas[small] >= JOIN_MIN_PX:
                            if large not in grown:
                                grown[large] = ndimage.binary_dilation(parts[large], np.ones((3, 3), bool))
                            on = np.count_nonzero(parts[small] & grown[large])
                            same = on >= JOIN_CONTAINED * areas[small]
                    if same:
                        sets.merge(i, j)
    out = []
    for group in sorted((sorted(g) for g in sets.subsets()), key=lambda g: g[0]):
        if not any(cands[i].in_core for i in group):
            continue  # seen only in a tile's margin: the tile that owns that part of the frame did not see it
        if len(group) == 1:
            c = cands[group[0]]
            out.append(FoundMask(c.mask, c.flags, c.path))
            continue
        mask = union(cands[i].mask for i in group)
        flags = [f for i in group for f in cands[i].flags if f not in ("branched", "loop")]
        path = mask.path(shape)
        if config.check_branches and path is not None:
            flags += ["branched"] * path.branched + ["loop"] * path.loop
        out.append(FoundMask(mask, tuple(dict.fromkeys(flags)), path))
    return out


def _grow(box: tuple, px: int) -> tuple:
    return box[0] - px, box[1] + px, box[2] - px, box[3] + px
