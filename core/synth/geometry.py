"""Scene geometry (method §1c): slip systems, pileups, dislocation splines.

A :class:`Scene` is explicit geometry (support points of every dislocation,
slip trace segments, line contrast and width) that :func:`render_scene`
draws. :func:`build_scene` makes one from :class:`SynthParams` and a seed;
a synthetic twin or a glide video builds one by hand.

Coordinates are image pixels (x right, y down, pixel centres at integers).
In a slip system the local frame is u along the trace direction
t = (cos a, sin a) and v across it along n = (-sin a, cos a); the first trace
is v = 0, the second v = slip_width, and every dislocation runs from one to
the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

import numpy as np

from ..errors import DislocError
from .params import MAX_DISLOCATIONS, PileupParams, SynthParams

STEP_PX = 1.5  # spacing of centre-line samples: fine enough for a smooth anti-aliased line


@dataclass
class Dislocation:
    """One dislocation: support points (K, 2) of (x, y) px and how to draw it.

    ``kind`` ``"spline"``: a cubic spline through the support points (paper);
    ``"polyline"``: the points joined by straight segments (already dense).
    """

    support: np.ndarray
    contrast: float = 0.35
    width: float = 2.5
    pileup: int = -1
    kind: str = "spline"

    def __post_init__(self) -> None:
        self.support = np.asarray(self.support, np.float64).reshape(-1, 2)
        if len(self.support) < 2 or not np.all(np.isfinite(self.support)):
            raise DislocError("dislocation: needs at least 2 finite support points")
        if self.kind not in ("spline", "polyline"):
            raise DislocError(f"dislocation kind: {self.kind!r} is not 'spline' or 'polyline'")

    def centerline(self, step: float = STEP_PX) -> np.ndarray:
        """Dense centre line (P, 2) of (x, y) px, samples about ``step`` px apart."""
        return spline_polyline(self.support, step) if self.kind == "spline" else resample_polyline(self.support, step)

    def centerlines(self, *steps: float) -> list:
        """:meth:`centerline` at each of ``steps`` (the same arrays), the spline evaluated once."""
        return resample_polylines(spline_dense(self.support) if self.kind == "spline" else self.support, steps)

    def to_dict(self) -> dict:
        return {"support": self.support.tolist(), "contrast": float(self.contrast), "width": float(self.width),
                "pileup": int(self.pileup), "kind": self.kind}


@dataclass
class SlipTrace:
    """A straight slip trace: the segment from ``points[0]`` to ``points[1]`` (x, y px), clipped to the image."""

    points: np.ndarray
    contrast: float = 0.05
    width: float = 1.5
    pileup: int = -1

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, np.float64).reshape(2, 2)

    def to_dict(self) -> dict:
        return {"points": self.points.tolist(), "contrast": float(self.contrast), "width": float(self.width),
                "pileup": int(self.pileup)}


@dataclass
class Scene:
    """Explicit geometry of one image: what :func:`render_scene` draws.

    ``pileups`` is a record per pileup (p0, angle, slip width, offsets, shape
    source) kept for the params JSON; drawing does not read it.
    """

    height: int
    width: int
    dislocations: list = field(default_factory=list)
    traces: list = field(default_factory=list)
    pileups: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width,
                "dislocations": [d.to_dict() for d in self.dislocations],
                "traces": [t.to_dict() for t in self.traces], "pileups": self.pileups}

    @classmethod
    def from_dict(cls, d: Any, source: str = "scene") -> "Scene":
        try:
            return cls(height=int(d["height"]), width=int(d["width"]),
                       dislocations=[Dislocation(np.array(x["support"], np.float64), float(x["contrast"]),
                                                 float(x["width"]), int(x.get("pileup", -1)),
                                                 x.get("kind", "spline")) for x in d["dislocations"]],
                       traces=[SlipTrace(np.array(t["points"], np.float64), float(t["contrast"]),
                                         float(t["width"]), int(t.get("pileup", -1))) for t in d.get("traces", [])],
                       pileups=list(d.get("pileups", [])))
        except (KeyError, TypeError, ValueError) as e:
            raise DislocError(f"{source}: not a valid scene ({type(e).__name__}: {e})") from None

    def without_dislocations(self) -> "Scene":
        """The same scene with the slip traces only (the background-only render)."""
        return Scene(self.height, self.width, [], list(self.traces), list(self.pileups))


def _dedupe(points: np.ndarray) -> np.ndarray:
    keep = np.ones(len(points), bool)
    keep[1:] = np.hypot(*np.diff(points, axis=0).T) > 1e-6
    return points[keep]


def resample_polyline(points: np.ndarray, step: float = STEP_PX) -> np.ndarray:
    """Points every ``step`` px along a polyline (linear interpolation, ends kept)."""
    return resample_polylines(points, (step,))[0]


def resample_polylines(points: np.ndarray, steps) -> list:
    """:func:`resample_polyline` at each of ``steps``, the arc length measured once."""
    p = _dedupe(np.asarray(points, np.float64))
    if len(p) < 2:
        return [np.repeat(p[:1], 2, axis=0) for _ in steps]
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    out = []
    for step in steps:
        t = np.linspace(0.0, s[-1], max(2, int(math.ceil(s[-1] / step)) + 1))
        out.append(np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1))
    return out


def _second_derivatives(h: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Second derivatives (..., n, d) at the knots of the not-a-knot cubic splines with intervals ``h``
    (..., n - 1) and slopes ``dy`` (..., n - 1, d): one spline, or a stack of them with as many knots."""
    n = h.shape[-1] + 1
    if n == 2:
        return np.zeros(dy.shape[:-2] + (2, dy.shape[-1]))
    if n == 3:  # not-a-knot with 3 points: the parabola through them
        m = 2.0 * (dy[..., 1, :] - dy[..., 0, :]) / (h[..., 0] + h[..., 1])[..., None]
        return np.repeat(m[..., None, :], 3, axis=-2)
    a = np.zeros(h.shape[:-1] + (n, n))
    rhs = np.zeros(dy.shape[:-2] + (n, dy.shape[-1]))
    i = np.arange(1, n - 1)
    a[..., i, i - 1], a[..., i, i], a[..., i, i + 1] = h[..., :-1], 2.0 * (h[..., :-1] + h[..., 1:]), h[..., 1:]
    rhs[..., 1:-1, :] = 6.0 * (dy[..., 1:, :] - dy[..., :-1, :])
    # third derivative continuous across the second and the second-to-last knot
    a[..., 0, 0], a[..., 0, 1], a[..., 0, 2] = h[..., 1], -(h[..., 0] + h[..., 1]), h[..., 0]
    a[..., -1, -3], a[..., -1, -2], a[..., -1, -1] = h[..., -1], -(h[..., -2] + h[..., -1]), h[..., -2]
    return np.linalg.solve(a, rhs)


def cubic_spline(s: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Not-a-knot cubic spline through (s_i, y_i) evaluated at ``t`` (y may be (n, d)).

    Same curve as ``scipy.interpolate.CubicSpline(s, y)`` (its default end
    condition), written out because scipy's setup costs ~1 ms per call and a
    sample has up to 20 splines of a handful of points.
    """
    n = len(s)
    h = np.diff(s)
    m = _second_derivatives(h, np.diff(y, axis=0) / h[:, None])
    k = np.clip(np.searchsorted(s, t, side="right") - 1, 0, n - 2)
    l = (s[k + 1][:, None] - t[:, None])
    r = (t[:, None] - s[k][:, None])
    # per interval first (the same operations on the same numbers as per point, fewer of them)
    hc = h[:, None]
    c0 = y[:-1] / hc - m[:-1] * hc / 6.0
    c1 = y[1:] / hc - m[1:] * hc / 6.0
    return (m[k] * l ** 3 + m[k + 1] * r ** 3) / (6.0 * h)[k][:, None] + c0[k] * l + c1[k] * r


def spline_dense(support: np.ndarray) -> np.ndarray:
    """The cubic spline through ``support`` (chord-length parameter) every ~0.5 px (fewer than 3 points: them)."""
    p = _dedupe(np.asarray(support, np.float64))
    if len(p) < 3:
        return p
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    return cubic_spline(s, p, np.linspace(0.0, s[-1], max(8, int(s[-1] / 0.5))))


def spline_polyline(support: np.ndarray, step: float = STEP_PX) -> np.ndarray:
    """Dense samples of the cubic spline through ``support`` (chord-length parameter)."""
    # evaluate finely once, then at equal arc length so the segments are even
    return resample_polyline(spline_dense(support), step)


def _starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def centerlines_fast(dislocations: list, *steps: float) -> list:
    """:meth:`Dislocation.centerlines` of many dislocations in one pass of array operations (``renderer="fast"``).

    The same curves sampled the same way, but every dislocation's samples in
    one array (parameters kept apart by offsets), so a sample costs a few
    dozen array operations instead of as many per dislocation. The samples
    differ from :meth:`~Dislocation.centerlines`' by rounding only (about
    1e-11 px).

    Returns
    -------
    list
        Per dislocation, its centre line at each of ``steps``.
    """
    # the supports without repeated points, all in one array
    cnt = np.array([len(d.support) for d in dislocations])
    sup = np.concatenate([d.support for d in dislocations])
    first = _starts(cnt)
    keep = np.ones(len(sup), bool)
    keep[1:] = np.hypot(*np.diff(sup, axis=0).T) > 1e-6
    keep[first] = True
    line = np.repeat(np.arange(len(cnt)), cnt)
    sup, cnt = sup[keep], np.bincount(line[keep], minlength=len(cnt))
    first = _starts(cnt)
    dense = [sup[a:a + c] for a, c in zip(first.tolist(), cnt.tolist())]  # the support, or the spline through it
    # the splines' chord-length parameters and second derivatives, the solves stacked by number of knots
    chord = np.concatenate([[0.0], np.hypot(*np.diff(sup, axis=0).T)])
    chord[first] = 0.0
    arc = np.cumsum(chord)
    arc -= np.repeat(arc[first], cnt)
    spline = [i for i, d in enumerate(dislocations) if d.kind == "spline" and cnt[i] >= 3]
    knots = []  # (dislocation, parameter, support, second derivatives)
    for nk in sorted(set(cnt[spline].tolist())):
        group = [i for i in spline if cnt[i] == nk]
        at = first[group][:, None] + np.arange(nk)
        s, p = arc[at], sup[at]
        h = np.diff(s, axis=1)
        m = _second_derivatives(h, np.diff(p, axis=1) / h[..., None])
        knots += [(i, s[j], p[j], m[j]) for j, i in enumerate(group)]
    if knots:
        nk = np.array([len(s) for _, s, _, _ in knots])
        length = np.array([s[-1] for _, s, _, _ in knots])
        off = _starts(length + 1.0)
        sg = np.concatenate([s + o for (_, s, _, _), o in zip(knots, off)])
        y = np.concatenate([p for _, _, p, _ in knots])
        m = np.concatenate([mm for _, _, _, mm in knots])
        npt = np.maximum(8, (length / 0.5).astype(np.int64))
        j = np.arange(npt.sum()) - np.repeat(_starts(npt), npt)
        t = j * np.repeat(length / (npt - 1), npt)
        t = np.where(j == np.repeat(npt - 1, npt), np.repeat(length, npt), t) + np.repeat(off, npt)
        first = np.repeat(_starts(nk), npt)
        k = np.clip(np.searchsorted(sg, t, side="right") - 1, first, first + np.repeat(nk, npt) - 2)
        # per interval first (those across two lines are never used)
        h = np.diff(sg)[:, None]
        c0 = y[:-1] / h - m[:-1] * h / 6.0
        c1 = y[1:] / h - m[1:] * h / 6.0
        m6 = m / 6.0
        l, r = (sg[k + 1] - t)[:, None], (t - sg[k])[:, None]
        val = (m6[k] * (l * l * l) + m6[k + 1] * (r * r * r)) / h[k] + c0[k] * l + c1[k] * r
        for (i, _, _, _), a, c in zip(knots, _starts(npt).tolist(), npt.tolist()):
            dense[i] = val[a:a + c]
    # every dense polyline resampled at equal arc length, all at once
    npts = np.array([len(p) for p in dense])
    q = np.concatenate(dense)
    first = _starts(npts)
    step_len = np.hypot(*np.diff(q, axis=0).T)
    keep = np.ones(len(q), bool)
    keep[1:] = step_len > 1e-6
    keep[first] = True  # (a line's first point follows another line's last)
    if not keep.all():
        line = np.repeat(np.arange(len(dense)), npts)
        q, npts = q[keep], np.bincount(line[keep], minlength=len(dense))
        first = _starts(npts)
        step_len = np.hypot(*np.diff(q, axis=0).T)
    step_len = np.concatenate([[0.0], step_len])
    step_len[first] = 0.0
    arc = np.cumsum(step_len)
    arc -= np.repeat(arc[first], npts)  # arc length from each line's start
    length = arc[first + npts - 1]
    off = _starts(length + 1.0)
    arc += np.repeat(off, npts)
    out: list = [[] for _ in dense]
    for st in steps:
        n = np.where(npts >= 2, np.maximum(2, np.ceil(length / st).astype(np.int64) + 1), 2)
        j = np.arange(n.sum()) - np.repeat(_starts(n), n)
        t = j * np.repeat(length / (n - 1), n)
        t = np.where(j == np.repeat(n - 1, n), np.repeat(length, n), t) + np.repeat(off, n)
        pts = np.stack([np.interp(t, arc, q[:, 0]), np.interp(t, arc, q[:, 1])], axis=1)
        for lines, a, c in zip(out, _starts(n).tolist(), n.tolist()):
            lines.append(pts[a:a + c])
    return out


@lru_cache(maxsize=64)
def _unit_steps(n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n)
    s.flags.writeable = False  # shared
    return s


def arc_points(chord: np.ndarray, curvature: float, n: int) -> np.ndarray:
    """``n`` points on a circular arc from (0, 0) to ``chord`` in the (u, v) frame.

    ``curvature`` is curvature times chord length (dimensionless); positive
    bows towards +u for a chord along +v (ahead, in the pileup's direction of travel).
    """
    chord = np.asarray(chord, np.float64)
    L = float(np.hypot(*chord))
    s = _unit_steps(n)
    pts = s[:, None] * chord[None, :]
    k = min(max(float(curvature), -1.95), 1.95)
    if abs(k) > 1e-6 and L > 0:
        R = L / abs(k)
        h = np.sqrt(np.maximum(R * R - ((s - 0.5) * L) ** 2, 0.0)) - math.sqrt(R * R - L * L / 4)
        nc = np.array([chord[1], -chord[0]]) / L  # unit normal of the chord, +u for a chord along +v
        pts = pts + (math.copysign(1.0, k) * h)[:, None] * nc[None, :]
    return pts


class ShapeLibrary:
    """Dislocation shapes from labelme line strips, normalised to a unit chord.

    Each shape is (P, 2) in a frame where the chord runs from (0, 0) to (0, 1);
    placing it scales and rotates it onto the chord between two slip traces.
    """

    def __init__(self, folder) -> None:
        from ..io.labelme import list_annotations, read_labelme

        self.shapes: list[np.ndarray] = []
        self.sources: list[tuple[str, int]] = []
        files = list_annotations(folder)
        if not files:
            raise DislocError(f"{folder}: no labelme .json files for dislocation shapes (shape_dir)")
        for f in files:
            lf = read_labelme(f)
            for i, poly in enumerate(lf.dislocations()):
                q = normalise_shape(poly)
                if q is not None:
                    self.shapes.append(q)
                    self.sources.append((f.name, i))
        if not self.shapes:
            raise DislocError(f"{folder}: the labelme files hold no line strips to use as shapes (shape_dir)")


_SHAPE_CACHE: dict = {}


def shape_library(folder) -> ShapeLibrary:
    import os
    from pathlib import Path

    folder = Path(folder).resolve()
    try:
        key = (folder, os.stat(folder).st_mtime_ns)
    except OSError:
        raise DislocError(f"{folder}: shape folder not found (shape_dir)") from None
    if key not in _SHAPE_CACHE:
        _SHAPE_CACHE.clear()
        _SHAPE_CACHE[key] = ShapeLibrary(folder)
    return _SHAPE_CACHE[key]


def normalise_shape(poly: np.ndarray, max_points: int = 16) -> Optional[np.ndarray]:
    """A polyline as support points with its chord mapped to (0, 0)-(0, 1); None if degenerate."""
    p = _dedupe(np.asarray(poly, np.float64))
    if len(p) < 2:
        return None
    c = p[-1] - p[0]
    L = float(np.hypot(*c))
    if L < 2.0:
        return None
    ev = c / L
    eu = np.array([ev[1], -ev[0]])
    q = np.stack([(p - p[0]) @ eu, (p - p[0]) @ ev], axis=1) / L
    if len(q) > max_points:  # dense hand strokes: keep a spline-friendly number of support points
        r = resample_polyline(q, 1e-3)
        q = r[np.linspace(0, len(r) - 1, max_points).round().astype(int)]
    return q


def place_shape(q: np.ndarray, chord: np.ndarray, mirror: bool = False) -> np.ndarray:
    """Map a normalised shape onto ``chord`` (from (0, 0)) in the (u, v) frame."""
    L = float(np.hypot(*chord))
    ev = np.asarray(chord, np.float64) / L
    eu = np.array([ev[1], -ev[0]])
    qu = -q[:, 0] if mirror else q[:, 0]
    return L * (qu[:, None] * eu[None, :] + q[:, 1:2] * ev[None, :])


def _to_image(local: np.ndarray, p0: np.ndarray, t: np.ndarray, n: np.ndarray) -> np.ndarray:
    return p0[None, :] + local[:, 0:1] * t[None, :] + local[:, 1:2] * n[None, :]


def build_pileup(p: PileupParams, index: int, rng: np.random.Generator, size: int,
                 shapes: Optional[ShapeLibrary] = None) -> tuple[list, list, dict]:
    """Dislocations, the two slip traces and a record for one pileup."""
    a = math.radians(p.angle)
    t = np.array([math.cos(a), math.sin(a)])
    n = np.array([-t[1], t[0]])
    p0 = np.array([p.p0_x, p.p0_y])
    dd = p.slip_width
    chord = np.array([dd * math.tan(math.radians(p.inclination)), dd])
    rec: dict[str, Any] = {"p0": p0.tolist(), "angle": p.angle, "slip_width": dd}
    # The first dislocation's support points (paper §3.3): random arc, or a real shape
    if p.shape_source == "labelme":
        if shapes is None:
            raise DislocError("shape_dir: shape_source='labelme' needs a shape library")
        k = int(rng.integers(len(shapes.shapes)))
        mirror = bool(rng.random() < 0.5)
        base = place_shape(shapes.shapes[k], chord, mirror)
        rec["shape"] = {"source": "labelme", "file": shapes.sources[k][0], "index": shapes.sources[k][1],
                        "mirrored": mirror}
        m = len(base)
    else:
        m = p.n_support
        base = arc_points(chord, p.curvature, m)
        rec["shape"] = {"source": "random"}
    sd = p.shape_jitter * dd
    base = base + np.stack([rng.normal(0.0, sd, m), np.zeros(m)], axis=1)
    straight = arc_points(chord, 0.0, m) if p.shape_source == "random" else None
    offsets = [0.0]
    for j in range(1, p.n_dislocations):
        f = max(0.2, 1.0 + p.spacing_jitter * (2 * rng.random() - 1))
        # closer than about a line width two dislocations would merge into one dark band
        offsets.append(offsets[-1] + max(p.spacing * p.spacing_ratio ** (j - 1) * f, 0.8 * p.width))
    rec["offsets"] = offsets
    gaps = np.diff(offsets)
    dislocations = []
    bent0 = arc_points(chord, p.curvature if straight is not None else 0.0, m)  # the same for every dislocation
    for j, off in enumerate(offsets):
        # next dislocation: shift the support points along the trace, then vary the shape a little
        dk = p.curvature_jitter * rng.normal()
        if straight is not None:
            bend = arc_points(chord, p.curvature + dk, m) - bent0
        else:
            bend = (arc_points(chord, dk, m) - bent0) if m >= 2 else np.zeros((m, 2))
        dev = bend + np.stack([rng.normal(0.0, 0.3 * sd, m), np.zeros(m)], axis=1)
        if len(gaps):
            # neighbours in a pileup repel and never cross: keep each one's variation within
            # a third of the gap to its neighbours
            gap = min(gaps[j - 1] if j > 0 else np.inf, gaps[j] if j < len(gaps) else np.inf)
            big = float(np.abs(dev).max())
            if big > gap / 3:
                dev *= gap / 3 / big
        local = base + dev + np.array([off, 0.0])
        contrast = float(np.clip(p.contrast * (1 + p.contrast_jitter * (2 * rng.random() - 1)), 0.01, 0.95))
        width = float(max(0.8, p.width * (1 + p.width_jitter * (2 * rng.random() - 1))))
        dislocations.append(Dislocation(_to_image(local, p0, t, n), contrast, width, index))
    # Slip traces mark where dislocations have swept the glide plane: from behind the pileup (its
    # source side) to a little past the leading dislocation (older traces may run further).
    head = offsets[-1] + max(0.0, float(chord[0])) + float(rng.random()) * 0.5 * size
    traces = []
    for v in (0.0, dd):
        o = p0 + v * n
        traces.append(SlipTrace(np.stack([o - 2 * size * t, o + head * t]), p.trace_contrast, p.trace_width, index))
    return dislocations, traces, rec


def build_scene(params: SynthParams, seed_seq: np.random.SeedSequence) -> Scene:
    """Random geometry for ``params``: each pileup draws from its own child stream."""
    size = params.size
    shapes = shape_library(params.shape_dir) if any(p.shape_source == "labelme" for p in params.pileups) else None
    scene = Scene(params.height, size)
    children = seed_seq.spawn(len(params.pileups))
    for i, (p, ss) in enumerate(zip(params.pileups, children)):
        d, tr, rec = build_pileup(p, i, np.random.default_rng(ss), size, shapes)
        scene.dislocations.extend(d)
        scene.traces.extend(tr)
        scene.pileups.append(rec)
    del scene.dislocations[min(params.max_dislocations, MAX_DISLOCATIONS):]
    if params.extra_traces or params.double_traces:
        from .scenery import double_pileup_traces, extra_traces

        # a stream of its own (never one that spawn() hands to a pileup), so scenes without these are unchanged
        rng = np.random.default_rng(np.random.SeedSequence(seed_seq.entropy, spawn_key=seed_seq.spawn_key + (2**31,)))
        lines = double_pileup_traces(scene, params, rng)
        lines += extra_traces(scene, params, rng)
        scene.traces.extend(SlipTrace(pts, c, w, -1) for pts, c, w in lines)
    return scene


def visible_part(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """The longest run of centre-line samples inside the image (possibly empty)."""
    inside = (poly[:, 0] >= -0.5) & (poly[:, 0] <= width - 0.5) & (poly[:, 1] >= -0.5) & (poly[:, 1] <= height - 0.5)
    if inside.all():
        return poly
    if not inside.any():
        return poly[:0]
    edges = np.diff(np.concatenate([[0], inside.view(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(ends - starts))
    return poly[starts[k]:ends[k]]


def polyline_length(poly: np.ndarray) -> float:
    return float(np.hypot(*np.diff(poly, axis=0).T).sum()) if len(poly) > 1 else 0.0
