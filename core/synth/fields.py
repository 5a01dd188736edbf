"""Distance fields of lines: for every pixel near a line, its distance to it (px) and its nearest segment.

:func:`line_field` serves polylines (dislocations): every pixel near the
centre line gets its exact distance to the nearest polyline segment,
computed for a small stencil around each segment at once and merged with
one ``np.minimum.at``. :func:`segment_fields` serves many straight segments
at once (slip traces, boundaries, striations), band by band along their
major axis. Distances are quantised to 1/4096 px, so every computation of a
field gives the same numbers.

The ``_fast`` variants serve ``renderer="fast"``
(:class:`~core.synth.params.SynthParams`): the same pixels and distances to
within one quantum, found with less work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

_F = np.float32
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


def segment_fields_fast(p: np.ndarray, q: np.ndarray, radii: np.ndarray, height: int,
                        width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`segment_fields` for ``renderer="fast"``: the same bands, set up as arrays, in float32.

    Parameters
    ----------
    p, q : (S, 2) float
        End points (x, y) px of each segment.
    radii : (S,) float
        Largest distance of interest (px) of each segment.
    height, width : int
        Image size.

    Returns
    -------
    (flat pixel indices, float32 distances, segment number)
        As :func:`segment_fields` (distances within 1/4096 px of its), but
        grouped by band width rather than segment after segment.
    """
    p = np.asarray(p, np.float64).reshape(-1, 2)
    q = np.asarray(q, np.float64).reshape(-1, 2)
    radii = np.asarray(radii, np.float64).reshape(-1)
    d = q - p
    steep = np.abs(d[:, 1]) > np.abs(d[:, 0])
    major = steep.astype(np.intp)  # the axis stepped along: y (1) for a steep segment
    rows = np.arange(len(p))
    pa, pb, qa = p[rows, major], p[rows, 1 - major], q[rows, major]
    da, db = d[rows, major], d[rows, 1 - major]
    lo, hi = np.minimum(pa, qa), np.maximum(pa, qa)
    a0 = np.maximum(np.floor(lo - radii), 0).astype(np.int64)
    a1 = np.minimum(np.ceil(hi + radii), np.where(steep, height, width) - 1).astype(np.int64)
    keep = (a0 <= a1) & (da * da + db * db >= 1e-12)
    slope = np.divide(db, da, out=np.zeros_like(db), where=keep)
    # a pixel within radius lies within radius * sqrt(1 + slope^2) of the centre across the band
    half = np.floor(radii * np.sqrt(1.0 + slope * slope) + 0.5 + 1e-6).astype(np.int64)
    # segments sorted by (band half-width, major axis): the steps of each group are one slice
    group = half * 2 + steep
    order = np.flatnonzero(keep)
    order = order[np.argsort(group[order], kind="stable")]
    if len(order) == 0:
        return np.zeros(0, np.int64), np.zeros(0, _F), np.zeros(0, np.int64)
    n = a1[order] - a0[order] + 1  # steps along the major axis of each segment
    seg = np.repeat(order, n)
    a = np.arange(len(seg)) + np.repeat(a0[order] - (np.cumsum(n) - n), n)
    bc = np.rint(pb[seg] + (np.clip(a, lo[seg], hi[seg]) - pa[seg]) * slope[seg]).astype(np.int64)
    # per step, relative to the segment's start: along the major axis, across it at the band's centre
    um = (a - pa[seg]).astype(_F)
    un0 = (bc - pb[seg]).astype(_F)
    dm, dn = da.astype(_F)[seg], db.astype(_F)[seg]
    inv_l2 = (1.0 / np.where(keep, da * da + db * db, 1.0)).astype(_F)[seg]
    r2 = (radii * radii).astype(_F)[seg]
    centre = np.where(steep[seg], a * width + bc, bc * width + a).astype(np.int32)  # flat index
    g_of = group[order]
    cuts = np.flatnonzero(np.diff(g_of)) + 1
    starts = np.concatenate([[0], np.cumsum(n)[cuts - 1], [len(seg)]]).tolist()
    idx, dist, owner = [], [], []
    for s0, s1, g in zip(starts[:-1], starts[1:], g_of[np.concatenate([[0], cuts])].tolist()):
        h, stp = g // 2, bool(g % 2)
        # (band, step) arrays: t = clip((um dm + un dn) / L^2, 0, 1), e = (um - t dm, un - t dn)
        un = un0[s0:s1][None, :] + np.arange(-h, h + 1, dtype=_F)[:, None]
        t = un * dn[s0:s1]
        t += um[s0:s1] * dm[s0:s1]
        t *= inv_l2[s0:s1]
        np.clip(t, _F(0), _F(1), out=t)
        en = t * dn[s0:s1]
        np.subtract(un, en, out=en)
        t *= dm[s0:s1]
        np.subtract(um[s0:s1], t, out=t)
        en *= en
        t *= t
        en += t  # squared distance
        ok = en <= r2[s0:s1]
        b = bc[s0:s1]
        n_minor = width if stp else height
        if int(b.min()) - h < 0 or int(b.max()) + h >= n_minor:  # a band leaves the image
            b = b[None, :] + np.arange(-h, h + 1)[:, None]
            ok &= (b >= 0) & (b < n_minor)
        ok = np.flatnonzero(ok)
        across = np.arange(-h, h + 1, dtype=np.int32)[:, None] * np.int32(1 if stp else width)
        idx.append((centre[s0:s1][None, :] + across).reshape(-1)[ok])
        dist.append(en.reshape(-1)[ok])
        owner.append(seg[s0:s1][ok % (s1 - s0)])
    dq = np.sqrt(np.concatenate(dist))
    dq *= _F(_QUANT)  # quantised as in segment_fields
    np.floor(dq, out=dq)
    dq += _F(0.5)
    dq *= _F(1.0 / _QUANT)
    return np.concatenate(idx), dq, np.concatenate(owner)


def line_fields_fast(polys: list, radii: list, height: int, width: int) -> list:
    """:func:`line_field` of several polylines at once, for ``renderer="fast"``: the same pixels, a few times sooner.

    A pixel's nearest point on a polyline is either inside a segment, and the
    pixel then lies in the rectangle beside that segment (as long as the
    segment, ``radius`` wide on both sides), or a vertex: one of the two
    ends (a square of half-side ``radius`` around each holds those pixels) or
    a joint turning by an angle ``a``, whose pixels lie at most ``radius *
    sin(a / 2)`` past the end of one of the two segments' rectangles. So the
    candidates are those rectangles, each grown at its ends by the margins
    of its joints, rasterised column by column for every line at once: each
    pixel is tried for about 1.3 segments, against about 8 for the discs of
    :func:`line_field` around segments 3 px long and ``radius`` 10 px.

    Parameters
    ----------
    polys : list of (P, 2) float
        Polylines (x, y) px, P >= 2 each.
    radii : list of float
        Largest distance of interest (px) of each polyline.
    height, width : int
        Image size; pixels outside it are skipped.

    Returns
    -------
    list of LineField or None
        One per polyline, as :func:`line_field` gives it (its pixels in
        another order; distances to within 1/4096 px, computed in float32
        from the segment's start; where two segments are about equally near
        the nearest one may differ).
    """
    n = len(polys)
    pts = [np.asarray(p, np.float64).reshape(-1, 2) for p in polys]
    npts = np.array([len(p) for p in pts])
    if n == 0 or (npts < 2).any():
        return [None if len(p) < 2 else line_field(p, r, height, width) for p, r in zip(pts, radii)]
    allp = np.concatenate(pts)
    rad = np.asarray(radii, np.float64)
    last = np.cumsum(npts) - 1
    first = last - npts + 1
    nseg = npts - 1
    # the segments of every line, in order
    start = np.ones(len(allp), bool)
    start[last] = False
    start = np.flatnonzero(start)
    a = allp[start]
    d = allp[start + 1] - a
    line = np.repeat(np.arange(n), nseg)
    # a joint's margin radius * sin(turn / 2), past the end of the segment before it and the start of the one after
    ang = np.arctan2(d[:, 1], d[:, 0])
    turn = np.abs((np.diff(ang) + math.pi) % (2.0 * math.pi) - math.pi)
    joint = rad[line[1:]] * np.sin(turn / 2.0) * (line[1:] == line[:-1])
    before = np.concatenate([[0.0], joint])
    after = np.concatenate([joint, [0.0]])
    # rectangles: the segments, then both ends of each line as segments of length 0 (numbered nseg, nseg + 1)
    rline = np.concatenate([line, np.repeat(np.arange(n), 2)])
    order = np.argsort(rline, kind="stable")  # line by line: each line's candidates are one slice
    rline = rline[order]
    ra = np.concatenate([a, allp[np.stack([first, last], axis=1).reshape(-1)]])[order]
    rd = np.concatenate([d, np.zeros((2 * n, 2))])[order]
    rr = rad[rline]
    before = np.concatenate([before, np.repeat(rad, 2)])[order]
    after = np.concatenate([after, np.repeat(rad, 2)])[order]
    rseg = np.concatenate([np.arange(len(a)) - np.repeat(first - np.arange(n), nseg),
                           np.stack([nseg, nseg + 1], axis=1).reshape(-1)])[order]
    length = np.hypot(rd[:, 0], rd[:, 1])
    has = length > 0
    tx = np.where(has, rd[:, 0] / np.where(has, length, 1.0), 1.0)
    ty = np.where(has, rd[:, 1] / np.where(has, length, 1.0), 0.0)
    # each rectangle: centre, half-length hl along t, half-width hw across; 1e-3 px to spare. Stepped along
    # the major axis of t (y for a steep one: its coordinates swapped below), so the runs across are long
    hl = (length + before + after) / 2.0 + 1e-3
    hw = rr + 1e-3
    cu = (length + after - before) / 2.0
    steep = np.abs(ty) > np.abs(tx)
    sw = steep[:, None]
    ra = np.where(sw, ra[:, ::-1], ra)  # (major, minor) coordinates
    rd = np.where(sw, rd[:, ::-1], rd)
    tm, tn = np.where(steep, ty, tx), np.where(steep, tx, ty)  # t along the major and the minor axis
    cm, cn = ra[:, 0] + cu * tm, ra[:, 1] + cu * tn
    n_major, n_minor = np.where(steep, height, width), np.where(steep, width, height)
    half_m = hl * np.abs(tm) + hw * np.abs(tn)
    m0 = np.maximum(np.ceil(cm - half_m), 0).astype(np.int64)
    m1 = np.minimum(np.floor(cm + half_m), n_major - 1).astype(np.int64)
    nstep = np.maximum(m1 - m0 + 1, 0)
    # the steps of every rectangle: at major coordinate M, the minor coordinates N with |u| <= hl and
    # |v| <= hw, u = (M - cm) tm + (N - cn) tn, v = (N - cn) tm - (M - cm) tn (tn = 0: 1e-12, a huge bound)
    st = np.repeat(np.arange(len(ra)), nstep)
    ms = np.arange(len(st)) + np.repeat(m0 - (np.cumsum(nstep) - nstep), nstep)
    um = ms - cm[st]
    kn = np.where(np.abs(tn) < 1e-12, 1e-12, tn)[st]
    ka = tm[st]
    lo_u, hi_u = (-hl[st] - um * ka) / kn, (hl[st] - um * ka) / kn
    lo_v, hi_v = (um * kn - hw[st]) / ka, (um * kn + hw[st]) / ka  # ka >= 0.7 in magnitude
    lo = np.maximum(np.minimum(lo_u, hi_u), np.minimum(lo_v, hi_v)) + cn[st]
    hi = np.minimum(np.maximum(lo_u, hi_u), np.maximum(lo_v, hi_v)) + cn[st]
    n0 = np.maximum(np.ceil(lo), 0.0)
    nrun = np.maximum(np.minimum(np.floor(hi), n_minor[st] - 1.0) - n0 + 1.0, 0.0).astype(np.int64)
    # per step, float32 and relative to the segment's start: r at the run's first pixel, and
    # t = clip((r . d) / L^2, 0, 1) = clip(t0 + k t1, 0, 1) at pixel k of the run
    dm, dn = rd[st, 0], rd[st, 1]
    inv = np.where(has, 1.0 / np.where(has, length * length, 1.0), 0.0)[st]
    rm = ms - ra[st, 0]
    rn = n0 - ra[st, 1]
    t0 = ((rm * dm + rn * dn) * inv).astype(_F)
    t1 = (dn * inv).astype(_F)
    rm, rn, dm, dn = rm.astype(_F), rn.astype(_F), dm.astype(_F), dn.astype(_F)
    r2 = (rr * rr).astype(_F)[st]
    n0 = n0.astype(np.int64)
    stp = steep[st]
    base = np.where(stp, ms * width + n0, n0 * width + ms)  # flat index of the run's first pixel
    stride = np.where(stp, 1, width)
    # every candidate: step c, pixel k of its run (per-step values spread by np.repeat: sooner than gathers)
    c = np.repeat(np.arange(len(st)), nrun)
    kint = np.arange(len(c)) - np.repeat(np.cumsum(nrun) - nrun, nrun)
    k = kint.astype(_F)
    t = np.repeat(t1, nrun)
    t *= k
    t += np.repeat(t0, nrun)
    np.clip(t, _F(0), _F(1), out=t)
    em = np.repeat(dm, nrun)
    em *= t
    np.subtract(np.repeat(rm, nrun), em, out=em)
    t *= np.repeat(dn, nrun)
    en = np.repeat(rn, nrun)
    en += k
    en -= t
    em *= em
    en *= en
    em += en  # squared distance
    ok = np.flatnonzero(em <= np.repeat(r2, nrun))
    cok = c[ok]
    pix = base[cok] + kint[ok] * stride[cok]
    it = np.int32 if float((rad * _QUANT + 2).max()) * float((nseg + 2).max()) < 2**31 - 1 else np.int64
    sline = rline[st]
    key = (np.sqrt(em[ok]) * _F(_QUANT)).astype(it)
    key *= (nseg + 2).astype(it)[sline][cok]
    key += rseg.astype(it)[st][cok]
    # candidates run line by line: each line's are one slice
    bounds = np.searchsorted(cok, np.searchsorted(sline, np.arange(n + 1)))
    # per line, the least key of each pixel: a scratch image, left as it was found
    scratch = np.full(height * width, np.iinfo(it).max, it)
    out: list = [None] * n
    for i in range(n):
        s0, s1 = bounds[i], bounds[i + 1]
        if s0 == s1:
            continue
        lp, lk = pix[s0:s1], key[s0:s1]
        np.minimum.at(scratch, lp, lk)
        win = np.flatnonzero(scratch[lp] == lk)  # (pixel, key) pairs are distinct: one winner per pixel
        idx, kk = lp[win], lk[win]
        scratch[idx] = np.iinfo(it).max
        m = it(nseg[i] + 2)
        seg = (kk % m).astype(np.int64)
        seg[seg == nseg[i]] = 0  # the ends belong to the first and the last segment
        seg[seg == nseg[i] + 1] = nseg[i] - 1
        out[i] = LineField(idx, ((kk // m).astype(_F) + _F(0.5)) / _F(_QUANT), seg)
    return out
