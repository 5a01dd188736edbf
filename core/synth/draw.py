"""Drawing lines (method §1d): anti-aliased, vectorised, with exact masks.

Each line is rendered from its exact distance field (:mod:`core.synth.fields`):
every pixel near the centre line gets its distance to the nearest polyline
segment, and a smooth profile of that distance gives the darkening. The
same distance field gives the line's mask, so mask and image cannot
disagree.

Composition is multiplicative, ``I = B * prod_k(1 - D_k)``: a dislocation
darkens whatever lies beneath it by a fraction, so it is darker than the
local background everywhere on its mask, also on top of another line.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .fields import line_field, line_fields_fast, segment_fields, segment_fields_fast
from .filters import uniform32

_F = np.float32
FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))  # Gaussian FWHM / sigma
FRINGE_SCALE = 1.6  # sigma of the negative lobe / sigma of the core (realistic profile)


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


def draw_traces(img: np.ndarray, traces: list, fast: bool = False) -> None:
    """Darken (or lighten, negative contrast) ``img`` in place along each slip trace (``fast``: see :func:`darken_segments`)."""
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
    darken_segments(img, ends, radii, widths, contrasts, fast)


def darken_segments(img: np.ndarray, ends: list, radii: list, widths: list, contrasts: list,
                    fast: bool = False) -> None:
    """Multiply ``img`` in place by ``1 - contrast * profile(distance, width)`` around each straight segment.

    One pass for all segments (:func:`~core.synth.fields.segment_fields`);
    the products are taken segment after segment, as drawing them one by
    one would. With ``fast`` (``renderer="fast"``) the fields come from
    :func:`~core.synth.fields.segment_fields_fast` and the products in its
    order (the same up to float32 rounding).
    """
    if fast:
        pq = np.asarray(ends, np.float64).reshape(-1, 2, 2)
        idx, dist, j = segment_fields_fast(pq[:, 0], pq[:, 1], radii, img.shape[0], img.shape[1])
    else:
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
    never lighten another dislocation's core). ``params.renderer == "fast"``
    draws with :func:`_draw_fast`.
    """
    realistic = params.line_profile == "realistic"
    looks = []  # (width, mask radius, fringe, profile radius) of each line
    for poly, dis in lines:
        width = float(dis.width)
        r_mask = mask_radius(width)
        fringe = min(params.fringe, fringe_cap(width, params.blur, r_mask)) if realistic else 0.0
        looks.append((width, r_mask, fringe, max(profile_radius(width, fringe, params.blur), r_mask)))
    if params.fast:
        return _draw_fast(img, lines, looks, params, rng)
    h, w = img.shape
    masks = np.zeros((len(lines), h, w), bool)
    trans = np.ones((h, w), _F)  # product of (1 - dark part) over lines
    bright = np.zeros((h, w), _F) if realistic and params.fringe > 0 else None
    union = np.zeros((h, w), bool) if bright is not None else None
    _darken_exact(trans.reshape(-1), None if bright is None else bright.reshape(-1), masks, union, lines, looks,
                  params, rng)
    if bright is not None:
        bright[union] = 0.0
        bright += _F(1)  # img *= trans * (1 + bright), in place
        bright *= trans
        img *= bright
    else:
        img *= trans
    return masks


def _darken_exact(trans: np.ndarray, bright: Optional[np.ndarray], masks: np.ndarray, union: Optional[np.ndarray],
                  lines: list, looks: list, params, rng: np.random.Generator) -> None:
    """Line after line: multiply the flat ``trans`` by ``1 - dark``, raise the flat ``bright`` to the fringes,
    set ``masks`` and ``union`` (``looks``: width, mask radius, fringe and profile radius of each line)."""
    h, w = masks.shape[1:]
    for k, ((poly, dis), (width, r_mask, fringe, radius)) in enumerate(zip(lines, looks)):
        lf = line_field(poly, radius, h, w)
        if lf is None:
            continue
        dark = profile(lf.dist, width, fringe, params.blur) * _F(dis.contrast)
        if params.line_profile == "realistic":
            if params.contrast_modulation > 0:
                # segments are ~3 px (generate.DRAW_STEP_PX): the default 18 px period is 6 segments
                mod = smooth_noise_1d(len(poly) - 1, rng, params.modulation_period / 3.0)
                dark *= _F(1) + _F(params.contrast_modulation) * mod[lf.seg]
            if params.line_noise > 0:
                dark *= _F(1) + _F(params.line_noise) * (rng.random(len(lf.idx), dtype=_F) * _F(2) - _F(1))
        pos = np.maximum(dark, _F(0))
        trans[lf.idx] *= _F(1) - pos
        if bright is not None:
            bright[lf.idx] = np.maximum(bright[lf.idx], np.maximum(-dark, _F(0)))
        on = lf.idx[lf.dist <= r_mask]
        masks[k].reshape(-1)[on] = True
        if union is not None:
            union.reshape(-1)[on] = True


def _draw_fast(img: np.ndarray, lines: list, looks: list, params, rng: np.random.Generator) -> np.ndarray:
    """:func:`draw_dislocations` for ``renderer="fast"``: every line's pixels in one array; returns the masks.

    The pixels come from :func:`~core.synth.fields.line_fields_fast`; the
    same profile, beading and grain are computed once for all lines rather
    than once per line, their random numbers drawn for all lines at once
    (other draws than line after line, the grain with 65536 levels), and
    the products multiplied into ``img`` at those pixels only.
    """
    h, w = img.shape
    masks = np.zeros((len(lines), h, w), bool)
    fields = line_fields_fast([poly for poly, _ in lines], [lk[3] for lk in looks], h, w)
    got = [k for k, lf in enumerate(fields) if lf is not None]
    if not got:
        return masks
    cnt = np.array([len(fields[k].idx) for k in got])
    idx = np.concatenate([fields[k].idx for k in got])
    dist = np.concatenate([fields[k].dist for k in got])

    def per(values, dtype=_F) -> np.ndarray:  # one value per line, spread to its pixels
        return np.repeat(np.asarray(values, dtype), cnt)

    sig = [_sigmas(looks[k][0], params.blur) for k in got]  # (s1, s2, a1, a2) of each line
    fringe = [looks[k][2] for k in got]
    contrast = [float(lines[k][1].contrast) for k in got]
    # profile() times the contrast: (1 + f) a1 c G(d; s1) - f a2 c G(d; s2)
    z = dist * per([1.0 / s[0] for s in sig])
    dark = np.exp(_F(-0.5) * z * z)
    dark *= per([(1 + f) * s[2] * c for s, f, c in zip(sig, fringe, contrast)])
    if any(f > 0 for f in fringe):
        z = dist * per([1.0 / s[1] for s in sig])
        dark -= per([f * s[3] * c for s, f, c in zip(sig, fringe, contrast)]) * np.exp(_F(-0.5) * z * z)
    if params.line_profile == "realistic":
        if params.contrast_modulation > 0:
            # smooth_noise_1d of each line, at the segment of each pixel: knots every period / 3 segments
            nseg = np.array([len(lines[k][0]) - 1 for k in got])
            knots = np.maximum(2, np.ceil(nseg / (params.modulation_period / 3.0)).astype(np.int64) + 1)
            values = rng.random(int(knots.sum())) * 2 - 1
            x = np.concatenate([fields[k].seg for k in got]) * per((knots - 1) / np.maximum(nseg - 1, 1), np.float64)
            i0 = np.minimum(x.astype(np.int64), per(knots - 2, np.int64))
            frac = (x - i0).astype(_F)
            i0 += per(np.cumsum(knots) - knots, np.int64)
            mod = values[i0].astype(_F)
            mod += (values[i0 + 1].astype(_F) - mod) * frac
            dark *= _F(1) + _F(params.contrast_modulation) * mod
        if params.line_noise > 0:
            dark *= _F(1) + _F(params.line_noise) * uniform32(rng, len(idx))
    flat = img.reshape(-1)
    np.multiply.at(flat, idx, _F(1) - np.maximum(dark, _F(0)))  # lines overlap: products over lines
    on = np.flatnonzero(dist <= per([looks[k][1] for k in got]))
    masks.reshape(-1)[per(got, np.int64)[on] * flat.size + idx[on]] = True
    if params.line_profile == "realistic" and params.fringe > 0:
        bright = np.zeros(flat.size, _F)
        np.maximum.at(bright, idx, np.maximum(-dark, _F(0)))
        bright[idx[on]] = 0.0  # no fringe on any mask pixel
        flat[idx] = flat[idx] * (_F(1) + bright[idx])  # a pixel of several lines gets the same value each time
    return masks
