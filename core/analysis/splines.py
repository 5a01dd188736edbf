"""From a dislocation mask to a smooth curve with curvature (paper §6.4).

mask --Lee skeleton--> one ordered pixel path (longest path through the
8-neighbour skeleton graph) --> 50 points equally spaced by arc length -->
cubic smoothing spline --> per point x, y, arc length, tangent angle and
signed curvature.

Coordinates are pixels of the full image: x to the right, y down, the centre
of pixel (row r, column c) is (x, y) = (c, r). The tangent angle is
``atan2(dy, dx)`` in these coordinates (radians, -pi..pi); the curvature is
``(x'y'' - y'x'') / (x'^2 + y'^2)^1.5`` in 1/px, positive where the curve
turns clockwise on screen (y points down).

Work is done on the mask's bounding box, so cost grows with the length of
the dislocation, not with the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .ridgeends import RidgeMap, follow_ridge

N_POINTS = 50
# A Lee skeleton of a rasterised smooth line wanders about 0.3 px (rms) around
# the true line; the smoothing spline may deviate this much from the path.
# Larger values start to cut the corners of tightly bent lines.
SKELETON_NOISE_PX = 0.35
# Side branches of the skeleton longer than this (px) mean the mask holds more
# than one line (Lee leaves spurs of about half the line width at the ends).
BRANCH_MIN_PX = 10

_SQRT2 = math.sqrt(2.0)
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class SkeletonPath:
    """The ordered skeleton of one mask.

    Attributes
    ----------
    xy : ndarray, float64 (P, 2)
        Pixel centres along the path, (x, y) in px of the full image.
    length_px : float
        Path length, diagonal steps counting sqrt(2) (px).
    side_branch_px : int
        Skeleton pixels of the largest piece off the path (0 for a clean line).
    n_pieces : int
        Separate skeleton pieces in the mask (the path runs through the largest).
    loop : bool
        The skeleton was a closed ring, opened at one pixel.
    """

    xy: np.ndarray
    length_px: float
    side_branch_px: int = 0
    n_pieces: int = 1
    loop: bool = False

    @property
    def branched(self) -> bool:
        return self.side_branch_px >= BRANCH_MIN_PX


@dataclass(frozen=True)
class Spline:
    """A dislocation as ``n`` points equally spaced along a cubic smoothing spline.

    All arrays are float64 (n,). Lengths in px, angles in rad, curvature in 1/px.
    """

    x: np.ndarray
    y: np.ndarray
    arc_length: np.ndarray
    tangent_angle: np.ndarray
    curvature: np.ndarray
    flags: tuple[str, ...] = field(default=())

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) array of (x, y) in px."""
        return np.column_stack([self.x, self.y])

    @property
    def length_px(self) -> float:
        return float(self.arc_length[-1]) if len(self.arc_length) else 0.0

    def reversed(self) -> "Spline":
        """The same curve run from the other end (angles turn by pi, curvature changes sign)."""
        ang = np.angle(np.exp(1j * (self.tangent_angle[::-1] + np.pi)))
        return Spline(self.x[::-1].copy(), self.y[::-1].copy(), self.length_px - self.arc_length[::-1],
                      ang, -self.curvature[::-1], self.flags)


def skeleton_path(mask: np.ndarray, box: Optional[tuple] = None) -> Optional[SkeletonPath]:
    """Lee-skeletonise a mask and order its pixels into one path.

    The path is the longest shortest path through the 8-neighbour skeleton
    graph (two Dijkstra sweeps, diagonal steps weigh sqrt(2)): spurs are left
    out, a closed ring is opened at one pixel, and with several pieces the
    largest one is used (``n_pieces`` tells).

    Parameters
    ----------
    mask : ndarray, bool (H, W)
    box : (row0, row1, col0, col1), optional
        The mask's bounding box (end exclusive) when the caller knows it: saves two scans of the image.

    Returns
    -------
    SkeletonPath or None
        None for an empty mask.
    """
    from scipy import ndimage
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra
    from skimage.morphology import skeletonize

    if box is None:
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
        box = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    r0, r1 = max(box[0] - 1, 0), box[1] + 1
    c0, c1 = max(box[2] - 1, 0), box[3] + 1
    crop = np.ascontiguousarray(mask[r0:r1, c0:c1], dtype=bool)
    if not crop.any():
        return None
    skel = skeletonize(crop, method="lee").astype(bool)
    if not skel.any():  # a blob too small to thin: keep its brightest idea of a centre
        skel = np.zeros_like(crop)
        skel[int(np.median(np.nonzero(crop)[0])), int(np.median(np.nonzero(crop)[1]))] = True
    walked = _walk_line(skel)
    if walked is not None:  # one plain line (most masks): one depth-first walk, no labelling
        pr, pc, path_nodes, length = walked
        xy = np.column_stack([pc[path_nodes] + c0, pr[path_nodes] + r0]).astype(np.float64)
        return SkeletonPath(xy=xy, length_px=length, side_branch_px=0, n_pieces=1, loop=False)
    lab, n_pieces = ndimage.label(skel, structure=_EIGHT)
    piece = skel if n_pieces == 1 else lab == np.bincount(lab.ravel())[1:].argmax() + 1
    pr, pc = np.nonzero(piece)
    n = pr.size
    s_a, d_a, wt = _neighbour_edges(pr, pc, skel.shape)
    graph = csr_matrix((wt, (s_a, d_a)), shape=(n, n))
    degree = np.bincount(s_a, minlength=n)
    nodes = np.arange(n)
    loop = False
    if n > 3 and degree.min() >= 2:
        # A closed ring has no end: cut it at its first pixel so the path runs all round.
        loop = True
        nodes = nodes[1:]
        graph = graph[1:][:, 1:]
    start = _farthest(graph, 0, dijkstra)[0]
    end, dist, pred = _farthest(graph, start, dijkstra)
    order = [end]
    while order[-1] != start:
        order.append(pred[order[-1]])
    path_nodes, length = nodes[np.asarray(order[::-1])], float(dist[end])
    xy = np.column_stack([pc[path_nodes] + c0, pr[path_nodes] + r0]).astype(np.float64)
    side = 0
    off = np.ones(n, bool)
    off[path_nodes] = False
    if off.any():
        off_img = np.zeros_like(skel)
        off_img[pr[off], pc[off]] = True
        lab, k = ndimage.label(off_img, structure=_EIGHT)
        side = int(np.bincount(lab.ravel())[1:].max()) if k else 0
    return SkeletonPath(xy=xy, length_px=length, side_branch_px=side, n_pieces=int(n_pieces), loop=loop)


def _walk_line(skel: np.ndarray):
    """The pixels of a skeleton that is one plain line, in walking order.

    Returns ``(rows, cols, order, length_px)`` when every skeleton pixel has one
    or two 8-neighbours, exactly two have one, and a walk from one end visits
    them all; else None (branches, rings, several pieces: the graph search
    handles those). The walk runs in the direction the two Dijkstra sweeps of
    :func:`skeleton_path` would take: from the end farther from the first pixel
    in row-major order (the lower index on a tie).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import depth_first_order

    pr, pc = np.nonzero(skel)
    n = pr.size
    if n < 2:
        return None
    s_a, d_a, _ = _neighbour_edges(pr, pc, skel.shape)
    degree = np.bincount(s_a, minlength=n)
    if degree.max() > 2 or degree.min() < 1:
        return None
    ends = np.flatnonzero(degree == 1)
    if ends.size != 2:
        return None
    # Adjacency in compressed rows, built straight from the sorted edge list (no COO pass).
    order = np.argsort(s_a, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(degree)])
    graph = csr_matrix((np.ones(s_a.size), d_a[order], indptr), shape=(n, n))
    walk = depth_first_order(graph, int(ends[0]), directed=True, return_predecessors=False)
    if walk.size != n:  # a ring beside the line: not one piece
        return None
    step = np.where((pr[walk[1:]] != pr[walk[:-1]]) & (pc[walk[1:]] != pc[walk[:-1]]), _SQRT2, 1.0)
    arc = np.concatenate([[0.0], np.cumsum(step)])
    total = float(arc[-1])
    at0 = float(arc[int(np.flatnonzero(walk == 0)[0])])
    if total - at0 > at0 or (total - at0 == at0 and ends[1] < ends[0]):
        walk = walk[::-1]
    return pr, pc, walk, total


def _neighbour_edges(pr: np.ndarray, pc: np.ndarray, shape: tuple):
    """8-neighbour edges between skeleton pixels (rows ``pr``, cols ``pc``), both directions.

    Returns ``(src, dst, weight)``: pixel indices and step lengths (1 or sqrt 2). The graph is
    symmetric, so the searches run it as directed.
    """
    h, w = shape
    idx = np.full((h + 2, w + 2), -1, np.int32)  # padded index image: -1 = background
    idx[pr + 1, pc + 1] = np.arange(pr.size, dtype=np.int32)
    src, dst, wt = [], [], []
    for dr, dc, cost in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, _SQRT2), (1, -1, _SQRT2)):
        nb = idx[pr + 1 + dr, pc + 1 + dc]
        ok = nb >= 0
        src.append(np.nonzero(ok)[0])
        dst.append(nb[ok])
        wt.append(np.full(int(ok.sum()), cost))
    return np.concatenate(src + dst), np.concatenate(dst + src), np.concatenate(wt + wt)


def _farthest(graph, source: int, dijkstra):
    dist, pred = dijkstra(graph, directed=True, indices=source, return_predecessors=True)
    dist = np.where(np.isfinite(dist), dist, -1.0)
    far = int(np.argmax(dist))
    return far, dist, pred


def extend_to_mask_edge(xy: np.ndarray, mask: np.ndarray, step: float = 0.5, max_px: float = 20.0,
                        origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Prolong both ends of a path along its end direction until it leaves the mask.

    Lee thinning stops about half a line width short of each end; this puts
    the ends back where the mask ends, so lengths are not biased short.
    ``origin`` (row, column) is where the mask's pixel (0, 0) lies in the
    path's coordinates (a crop of the frame).
    """
    if len(xy) < 2:
        return xy
    h, w = mask.shape
    oy, ox = origin
    out = [xy]
    for end, sign in ((0, -1), (-1, 1)):
        k = min(len(xy) - 1, 4)
        a, b = (xy[k], xy[0]) if sign < 0 else (xy[-1 - k], xy[-1])
        d = b - a
        norm = math.hypot(d[0], d[1])
        if norm == 0:
            continue
        d = d / norm
        ts = np.arange(step, max_px + step, step)
        pts = b[None, :] + ts[:, None] * d[None, :]
        ci, ri = np.rint(pts[:, 0]).astype(int) - ox, np.rint(pts[:, 1]).astype(int) - oy
        inside = (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h)
        inside[inside] = mask[ri[inside], ci[inside]]
        nout = int(np.argmin(inside)) if not inside.all() else len(inside)
        if nout == 0:
            continue
        tip = b + ts[nout - 1] * d  # the last sample that still lies in the mask
        out = [tip[None, :]] + out if sign < 0 else out + [tip[None, :]]
    return np.vstack(out)


def resample_polyline(xy: np.ndarray, n: int = N_POINTS) -> np.ndarray:
    """``n`` points equally spaced by arc length along a polyline (P, 2), ends kept."""
    xy = np.asarray(xy, np.float64)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] == 0:
        return np.repeat(xy[:1], n, axis=0)
    t = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(t, s, xy[:, 0]), np.interp(t, s, xy[:, 1])])


def fit_spline(xy: np.ndarray, n: int = N_POINTS, noise_px: float = SKELETON_NOISE_PX,
               flags: tuple[str, ...] = ()) -> Optional[Spline]:
    """Fit a cubic smoothing spline through an ordered path and sample it at ``n`` equal steps.

    Parameters
    ----------
    xy : ndarray (P, 2)
        Ordered points (x, y) in px (a skeleton path).
    n : int
        Points on the result, equally spaced by arc length along the spline.
    noise_px : float
        Expected rms deviation of the path from the true line (px); sets the
        smoothing factor ``s = n * noise_px**2`` of ``scipy.interpolate.splprep``.

    Returns
    -------
    Spline or None
        None when the path is shorter than 2 px.
    """
    from scipy.interpolate import splev, splprep

    pts = resample_polyline(xy, n)
    span = float(np.hypot(*np.diff(pts, axis=0).T).sum())
    if span < 2.0:
        return None
    k = 3
    try:
        tck, _ = splprep([pts[:, 0], pts[:, 1]], s=n * noise_px ** 2, k=k)
    except (ValueError, TypeError):  # degenerate input (repeated points)
        return _polyline_spline(pts, flags)
    # The spline parameter is not arc length: sample densely, then invert s(u).
    dense_u = np.linspace(0.0, 1.0, 8 * n)
    dx, dy = splev(dense_u, tck, der=1)
    speed = np.hypot(dx, dy)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(dense_u))])
    arc = np.linspace(0.0, s[-1], n)
    u = np.interp(arc, s, dense_u)
    x, y = splev(u, tck)
    d1x, d1y = splev(u, tck, der=1)
    d2x, d2y = splev(u, tck, der=2)
    sp2 = d1x * d1x + d1y * d1y
    curv = (d1x * d2y - d1y * d2x) / np.maximum(sp2, 1e-12) ** 1.5
    return Spline(np.asarray(x), np.asarray(y), arc, np.arctan2(d1y, d1x), curv, tuple(flags))


def _polyline_spline(pts: np.ndarray, flags) -> Spline:
    d = np.gradient(pts, axis=0)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    return Spline(pts[:, 0].copy(), pts[:, 1].copy(), arc, np.arctan2(d[:, 1], d[:, 0]), np.zeros(len(pts)), tuple(flags))


def orient(spline: Spline, reference: Optional[np.ndarray] = None) -> Spline:
    """Give a curve a reproducible direction.

    With ``reference`` (n, 2) points of the same dislocation in the previous
    frame, the direction that matches it end to end; otherwise the one whose
    start-to-end vector points right (or down, for steep curves), so tangent
    angles and curvature signs are comparable across frames.
    """
    xy = spline.xy
    if reference is not None and len(reference):
        ref = np.asarray(reference)
        same = np.hypot(*(xy[0] - ref[0])) + np.hypot(*(xy[-1] - ref[-1]))
        flip = np.hypot(*(xy[0] - ref[-1])) + np.hypot(*(xy[-1] - ref[0]))
        return spline.reversed() if flip < same else spline
    d = xy[-1] - xy[0]
    backwards = d[0] < 0 if abs(d[0]) >= abs(d[1]) else d[1] < 0
    return spline.reversed() if backwards else spline


def mask_to_spline(mask: np.ndarray, n: int = N_POINTS, path: Optional[SkeletonPath] = None,
                   extend_ends: bool = False, origin: tuple[int, int] = (0, 0),
                   ridge: Optional[RidgeMap] = None) -> Optional[Spline]:
    """One dislocation mask (H, W) -> :class:`Spline` (or None when too small).

    ``path`` reuses a skeleton already computed by post-processing (in
    frame px when the mask is a crop whose pixel (0, 0) lies at ``origin``,
    (row, column)). Flags: ``branched`` (a side branch >= BRANCH_MIN_PX),
    ``loop`` (closed ring), ``several_pieces`` (the skeleton has separate
    pieces; the largest is used).

    ``extend_ends`` prolongs the path's ends along their direction to the
    mask's edge (:func:`extend_to_mask_edge`). A true mask, a line drawn
    with round caps, skeletonises to its end points without it; a network's
    mask does not: thresholded at 0.5 it ends short of the line, and Lee
    thinning stops a further half width short. Segmentation therefore
    extends (``PostprocessConfig.extend_ends``, measured there).

    ``ridge``, the frame's :func:`core.analysis.ridgeends.ridge_map`, walks the
    ends on along the frame's dark line beyond the mask
    (:func:`core.analysis.ridgeends.follow_ridge`; ``PostprocessConfig.follow_ridge``).
    """
    path = skeleton_path(mask) if path is None else path
    if path is None:
        return None
    flags = []
    if path.branched:
        flags.append("branched")
    if path.loop:
        flags.append("loop")
    if path.n_pieces > 1:
        flags.append("several_pieces")
    xy = extend_to_mask_edge(path.xy, mask, origin=origin) if extend_ends and not path.loop else path.xy
    if ridge is not None and not path.loop:
        xy = follow_ridge(xy, ridge)
    sp = fit_spline(xy, n, flags=tuple(flags))
    return None if sp is None else orient(sp)
