"""Drawing lines (method §1d): anti-aliased, vectorised, with exact masks.

Each line is rendered from its exact distance field: every pixel near the
centre line gets its distance to the nearest polyline segment (computed
for a small stencil around each segment at once, merged with one
``np.minimum.at``), and a smooth profile of that distance gives the
darkening. The same distance field gives the line's mask, so mask and
image cannot disagree.

Composition is multiplicative, ``I = B * prod_k(1 - D_k)``: a dislocation
darkens whatever lies beneath it by a fraction, so it is darker than the
local background everywhere on its mask, also on top of another line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

_F = np.float32
FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))  # Gaussian FWHM / sigma
FRINGE_SCALE = 1.6  # sigma of the negative lobe / sigma of the core (realistic profile)
_QUANT = 4096.0  # distance quantum 1/4096 px in the packed (distance, segment) key


@dataclass
class LineField:
    """Pixels near a line: flat indices into the image, distance (px), nearest segment."""

    idx: np.ndarray
    dist: np.ndarray
    seg: np.ndarray


@lru_cache(maxsize=256)
def _stencil(reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer offsets (x, y) within ``reach`` px of (0, 0), as int64 and as float32."""
    r = int(math.ceil(reach))
    off = np.arange(-r, r + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    keep = ox * ox + oy * oy <= reach * reach
    ox, oy = ox[keep].astype(np.int64), oy[keep].astype(np.int64)
    return ox, oy, ox.astype(_F), oy.astype(_F)


def line_field(points: np.ndarray, radius: float, height: int, width: int) -> Optional[LineField]:
    """Exact distance to the polyline for every pixel within ``radius`` px of it.

    Parameters
    ----------
    points : (P, 2) float
        Polyline (x, y) px, P >= 2, samples a few px apart (the stencil
        around each segment grows with the segment length).
    radius : float
        Largest distance of interest (px).
    height, width : int
        Image size; pixels outside it are skipped.

    Returns
    -------
    LineField or None
        ``idx`` flat indices into a (height, width) image, ``dist`` float32 px,
        ``seg`` index of the nearest segment; None when no pixel of the image
        is within ``radius``.
    """
    pts = np.asarray(points, np.float64)
    a = pts[:-1]
    d = (pts[1:] - a).astype(_F)
    nseg = len(a)
    seglen = float(np.hypot(d[:, 0], d[:, 1]).max())
    # a pixel within radius of a segment is within radius + length / 2 of its midpoint, and within
    # that + sqrt(2) / 2 of the midpoint rounded to a pixel (a little margin for rounding)
    reach = math.ceil((radius + seglen / 2 + 0.72) * 8) / 8
    r = int(math.ceil(reach))
    mid = np.rint(a + d / 2).astype(np.int64)
    # only segments whose stencil reaches into the image; the rest change no pixel of it
    near = (mid[:, 0] >= -r) & (mid[:, 0] < width + r) & (mid[:, 1] >= -r) & (mid[:, 1] < height + r)
    segs = None
    if not near.all():
        segs = np.flatnonzero(near)
        if len(segs) == 0:
            return None
        a, d, mid = a[segs], d[segs], mid[segs]
    mx, my = mid[:, 0], mid[:, 1]
    # a box that holds every stencil pixel (up to 2 r past the image): no pixel needs a bounds test
    x0, x1, y0, y1 = int(mx.min()) - r, int(mx.max()) + r + 1, int(my.min()) - r, int(my.max()) + r + 1
    # distance of every stencil pixel around each segment (S, K), float32, by the same operations
    # as ever, so the quantised distances below are bit for bit those of earlier versions
    ox, oy, sx, sy = _stencil(reach)
    fa = (a - mid).astype(_F)
    dx, dy = d[:, 0:1], d[:, 1:2]
    rx = sx[None, :] - fa[:, 0:1]
    ry = sy[None, :] - fa[:, 1:2]
    l2 = np.maximum(d[:, 0] ** 2 + d[:, 1] ** 2, _F(1e-12))[:, None]
    t = rx * dx
    t += ry * dy
    t /= l2
    np.maximum(t, _F(0), out=t)
    np.minimum(t, _F(1), out=t)
    ex = t * dx
    np.subtract(rx, ex, out=ex)
    t *= dy
    np.subtract(ry, t, out=t)  # ey
    ex *= ex
    t *= t
    ex += t  # squared distance
    ok = ex <= _F(radius * radius)
    flat = np.flatnonzero(ok)
    if len(flat) == 0:
        return None
    bw = x1 - x0
    # int32 keys and pixel numbers when they fit (they do for any image of a few thousand px)
    it = np.int32 if (radius * _QUANT + 2) * nseg < 2**31 - 1 and (y1 - y0) * bw < 2**31 else np.int64
    s_idx = np.repeat((np.arange(len(a)) if segs is None else segs).astype(it), np.count_nonzero(ok, axis=1))
    local = (((my - y0) * bw + (mx - x0)).astype(it)[:, None] + (oy * bw + ox).astype(it)[None, :]).reshape(-1)[flat]
    # min over candidates of (distance, segment) in one pass: pack both into one integer key
    # (distances are >= 0: truncating is flooring)
    key = (np.sqrt(ex.reshape(-1)[flat]) * _F(_QUANT)).astype(it) * it(nseg) + s_idx
    best = np.full((y1 - y0) * bw, np.iinfo(it).max, it)
    np.minimum.at(best, local, key)
    loc = np.flatnonzero(best != np.iinfo(it).max)
    k = best[loc]
    ly, lx = np.divmod(loc, bw)
    ys, xs = ly + y0, lx + x0
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        if not inside.any():
            return None
        ys, xs, k = ys[inside], xs[inside], k[inside]
    return LineField(ys * width + xs, ((k // it(nseg)).astype(_F) + _F(0.5)) / _F(_QUANT),
                     (k % it(nseg)).astype(np.int64))


def segment_fields(ends: list, radii: list, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`line_field` of straight segments p-q, column by column (or row by row), all in one pass.

    A long straight line (a slip trace, a boundary) touches few pixels per
    step along its major axis, so the candidates are a thin band of
    ``(length, ~2.9 radius)`` pixels with no duplicates: far cheaper than
    stencils around many short segments. Distances are quantised as in
    :func:`line_field` (1/4096 px). ``ends`` holds each segment's end points
    (p, q), ``radii`` its radius; the steps along all segments are rows of
    one array, so many short segments (striations) cost no Python loop over
    arrays each.

    Returns
    -------
    (flat pixel indices, float32 distances, segment number), segment after
    segment: the pixels of one segment are distinct, segments may share pixels.
    """
    rows = []
    for j, ((p, q), radius) in enumerate(zip(ends, radii)):
        p = np.asarray(p, np.float64)
        q = np.asarray(q, np.float64)
        d = q - p
        L2 = float(d @ d)
        if L2 < 1e-12:
            continue
        steep = abs(d[1]) > abs(d[0])
        ia, ib = (1, 0) if steep else (0, 1)
        na = height if steep else width
        a0 = max(int(math.floor(min(p[ia], q[ia]) - radius)), 0)
        a1 = min(int(math.ceil(max(p[ia], q[ia]) + radius)), na - 1)
        if a0 > a1:
            continue
        slope = d[ib] / d[ia]
        # a pixel within radius lies within radius * sqrt(1 + slope^2) of the centre along the minor axis,
        # and the centre is rounded to a pixel: no other offsets are tried
        half = int(math.floor(radius * math.sqrt(1.0 + slope * slope) + 0.5 + 1e-6))
        rows.append((a0, a1 - a0 + 1, j, steep, p[0], p[1], d[0], d[1], L2, min(p[ia], q[ia]), max(p[ia], q[ia]),
                     p[ia], p[ib], slope, half, radius))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, _F), np.zeros(0, np.int64)
    j, steep, p0, p1, d0, d1, L2, lo, hi, pa, pb, slope, half, radius = np.array([r[2:] for r in rows]).T
    steep = steep.astype(bool)
    n = np.array([r[1] for r in rows], np.int64)  # steps along the major axis of each segment
    seg = np.repeat(np.arange(len(rows)), n)
    a = (np.arange(len(seg)) + np.repeat(np.array([r[0] for r in rows]) - (np.cumsum(n) - n), n)).astype(np.float64)
    bc = np.rint(pb[seg] + (np.minimum(np.maximum(a, lo[seg]), hi[seg]) - pa[seg]) * slope[seg]).astype(np.int64)
    idx, dist, owner = [], [], []
    # steps with bands of the same width and the same major axis: one (band, step) array each, the
    # major coordinate constant down a column (computed once per step, not per pixel)
    for h, stp in sorted(set(zip(half.tolist(), steep.tolist()))):
        g = np.flatnonzero(((half == h) & (steep == stp))[seg])
        sg, ag = seg[g], a[g]
        b = bc[g][None, :] + np.arange(-int(h), int(h) + 1)[:, None]
        # x = a, y = b (or x = b, y = a when steep): t = ((x - p0) d0 + (y - p1) d1) / L2 clipped to
        # [0, 1], e = (x - p0 - t d0, y - p1 - t d1); sums of two terms in either order are the same
        pm, dm, pn, dn = (p1[sg], d1[sg], p0[sg], d0[sg]) if stp else (p0[sg], d0[sg], p1[sg], d1[sg])
        um = ag - pm  # (step,)
        un = b - pn  # (band, step), float64
        t = un * dn
        t += um * dm
        t /= L2[sg]
        np.clip(t, 0.0, 1.0, out=t)
        en = t * dn
        np.subtract(un, en, out=en)
        t *= dm
        np.subtract(um, t, out=t)  # e along the major axis
        en *= en
        t *= t
        ds = en + t if stp else t + en  # ex^2 + ey^2
        np.sqrt(ds, out=ds)
        ok = np.flatnonzero((b >= 0) & (b < (width if stp else height)) & (ds <= radius[sg]))
        col = ok % len(g)
        bo = b.reshape(-1)[ok]
        ao = ag.astype(np.int64)[col]
        idx.append(bo * width + ao if not stp else ao * width + bo)  # y * width + x
        dist.append(ds.reshape(-1)[ok])
        owner.append(sg[col])
    # segment after segment (the order of the products where segments share a pixel)
    sn = np.concatenate(owner)
    order = np.argsort(sn.astype(np.int16 if len(rows) < 2**15 else np.int64), kind="stable")  # radix sort
    k = np.floor(np.concatenate(dist)[order].astype(_F) * _F(_QUANT)).astype(np.int64)
    return np.concatenate(idx)[order], (k.astype(_F) + _F(0.5)) / _F(_QUANT), j[sn[order]].astype(np.int64)


def _sigmas(width: float, blur: float) -> tuple[float, float, float, float]:
    """Core and lobe sigmas after blurring, and their amplitude factors (1-D Gaussian convolution)."""
    s = width / FWHM
    s1 = math.hypot(s, blur)
    s2 = math.hypot(FRINGE_SCALE * s, blur)
    return s1, s2, s / s1, FRINGE_SCALE * s / s2


def fringe_cap(width: float, blur: float, r_mask: float) -> float:
    """Largest fringe strength that keeps the darkening at ``r_mask`` >= 1/4 of the fringe-free value.

    The realistic profile is (1 + f) a1 G(d; s1) - f a2 G(d; s2) with s2 > s1,
    so it turns bright (negative) beyond some distance; bounding f keeps
    every mask pixel on the dark core.
    """
    s1, s2, a1, a2 = _sigmas(width, blur)
    e1 = a1 * math.exp(-0.5 * (r_mask / s1) ** 2)
    e2 = a2 * math.exp(-0.5 * (r_mask / s2) ** 2)
    return float(0.75 * e1 / (e2 - e1)) if e2 > e1 else 1.0


def mask_radius(width: float) -> float:
    """Mask half-width (px) of a line of FWHM ``width``: half the width, within [1, 2] px.

    Masks stay 2-4 px wide whatever the drawn width, like annotations
    rasterised at 3 px, and always on the darkest part of the line.
    """
    return min(max(1.0, 0.5 * width), 2.0)


def profile(dist: np.ndarray, width: float, fringe: float, blur: float = 0.0) -> np.ndarray:
    """Relative darkening at distance ``dist`` px (1 at an unblurred core; negative = bright fringe).

    A Gaussian of FWHM ``width``; with ``fringe`` > 0 minus ``fringe`` times a
    1.6x wider Gaussian (dark core, slight bright fringes, zero integral
    change of the core height); ``blur`` (px) convolves both analytically.
    """
    s1, s2, a1, a2 = _sigmas(width, blur)
    z = dist * _F(1.0 / s1)
    core = np.exp(_F(-0.5) * z * z)
    if fringe <= 0:
        return core * _F(a1) if blur > 0 else core
    z2 = dist * _F(1.0 / s2)
    return _F((1 + fringe) * a1) * core - _F(fringe * a2) * np.exp(_F(-0.5) * z2 * z2)


def profile_radius(width: float, fringe: float, blur: float = 0.0) -> float:
    """Where the profile is cut (px): 3 sigma of its widest Gaussian, below 1/90 of the contrast."""
    s1, s2, _, _ = _sigmas(width, blur)
    return max(1.5, 3.0 * (s2 if fringe > 0 else s1))


def smooth_noise_1d(n: int, rng: np.random.Generator, period: float) -> np.ndarray:
    """``n`` values in [-1, 1] varying smoothly over about ``period`` samples."""
    k = max(2, int(math.ceil(n / period)) + 1)
    knots = rng.random(k) * 2 - 1
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), knots).astype(_F)


def draw_traces(img: np.ndarray, traces: list) -> None:
    """Darken (or lighten, negative contrast) ``img`` in place along each slip trace."""
    h, w = img.shape
    ends, radii, widths, contrasts = [], [], [], []
    for tr in traces:
        if tr.contrast == 0:
            continue
        radius = profile_radius(tr.width, 0.0)
        seg = clip_line(tr.points[0], tr.points[1], h, w, radius)
        if seg is not None:
            ends.append((seg[0], seg[1]))
            radii.append(radius)
            widths.append(tr.width)
            contrasts.append(tr.contrast)
    darken_segments(img, ends, radii, widths, contrasts)


def darken_segments(img: np.ndarray, ends: list, radii: list, widths: list, contrasts: list) -> None:
    """Multiply ``img`` in place by ``1 - contrast * profile(distance, width)`` around each straight segment.

    One pass for all segments (:func:`segment_fields`); the products are
    taken segment after segment, as drawing them one by one would.
    """
    idx, dist, j = segment_fields(ends, radii, img.shape[0], img.shape[1])
    if len(idx) == 0:
        return
    inv = np.array([_F(1.0 / _sigmas(float(wd), 0.0)[0]) for wd in widths], _F)
    z = dist * inv[j]
    core = np.exp(_F(-0.5) * z * z)  # profile(dist, width, 0.0) of each segment
    c = np.array([_F(x) for x in contrasts], _F)
    np.multiply.at(img.reshape(-1), idx, _F(1) - c[j] * core)


def clip_line(p: np.ndarray, q: np.ndarray, h: int, w: int, margin: float) -> Optional[np.ndarray]:
    """The part of the segment p-q (float64 end points) inside the image grown by ``margin`` px
    (Liang-Barsky), or None. In Python floats: the same double arithmetic as on numpy arrays, 10x sooner."""
    px, py = float(p[0]), float(p[1])
    dx, dy = float(q[0]) - px, float(q[1]) - py
    lo, hi = 0.0, 1.0
    for pk, dk, mn, mx in ((px, dx, -0.5 - margin, w - 0.5 + margin), (py, dy, -0.5 - margin, h - 0.5 + margin)):
        if abs(dk) < 1e-12:
            if not mn <= pk <= mx:
                return None
            continue
        t1, t2 = (mn - pk) / dk, (mx - pk) / dk
        lo, hi = max(lo, min(t1, t2)), min(hi, max(t1, t2))
    if lo >= hi:
        return None
    return np.array([[px + lo * dx, py + lo * dy], [px + hi * dx, py + hi * dy]])


def draw_dislocations(img: np.ndarray, lines: list, params, rng: np.random.Generator) -> np.ndarray:
    """Darken ``img`` in place with each dislocation; return their masks (K, H, W) bool.

    ``lines`` holds ``(centre line (P, 2), Dislocation)`` pairs. Each mask is
    the pixels within :func:`mask_radius` of that line alone, so overlaps are
    kept. Bright fringes are not applied on any mask pixel (a fringe must
    never lighten another dislocation's core).
    """
    h, w = img.shape
    masks = np.zeros((len(lines), h, w), bool)
    trans = np.ones((h, w), _F)  # product of (1 - dark part) over lines
    bright = np.zeros((h, w), _F) if params.line_profile == "realistic" and params.fringe > 0 else None
    union = np.zeros((h, w), bool) if bright is not None else None
    realistic = params.line_profile == "realistic"
    trans_f = trans.reshape(-1)
    bright_f = bright.reshape(-1) if bright is not None else None
    for k, (poly, dis) in enumerate(lines):
        width = float(dis.width)
        r_mask = mask_radius(width)
        fringe = min(params.fringe, fringe_cap(width, params.blur, r_mask)) if realistic else 0.0
        lf = line_field(poly, max(profile_radius(width, fringe, params.blur), r_mask), h, w)
        if lf is None:
            continue
        dark = profile(lf.dist, width, fringe, params.blur) * _F(dis.contrast)
        if realistic:
            if params.contrast_modulation > 0:
                # segments are ~3 px (generate.DRAW_STEP_PX): the default 18 px period is 6 segments
                mod = smooth_noise_1d(len(poly) - 1, rng, params.modulation_period / 3.0)
                dark *= _F(1) + _F(params.contrast_modulation) * mod[lf.seg]
            if params.line_noise > 0:
                dark *= _F(1) + _F(params.line_noise) * (rng.random(len(lf.idx), dtype=_F) * _F(2) - _F(1))
        pos = np.maximum(dark, _F(0))
        trans_f[lf.idx] *= _F(1) - pos
        if bright is not None:
            bright_f[lf.idx] = np.maximum(bright_f[lf.idx], np.maximum(-dark, _F(0)))
        on = lf.idx[lf.dist <= r_mask]
        masks[k].reshape(-1)[on] = True
        if union is not None:
            union.reshape(-1)[on] = True
    if bright is not None:
        bright[union] = 0.0
        bright += _F(1)  # img *= trans * (1 + bright), in place
        bright *= trans
        img *= bright
    else:
        img *= trans
    return masks
