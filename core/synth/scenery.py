"""What real micrographs show besides dislocations (the realistic preset, beyond the paper).

A network trained on the paper's Perlin images learns "dark stroke on
blotches"; real in-situ frames also hold smooth illumination gradients and
vignetting, slipped bands brighter or darker than their surroundings, strong
straight slip traces and twin or grain boundaries, stacking-fault fringes,
bend contours, specks and dirt, blur, grain noise and video compression.
Each is drawn here at contrasts as strong as the dislocations', and none of
them ever enters a mask: masks come from the dislocations alone
(:func:`core.synth.draw.draw_dislocations`).

Two kinds of layers:

* *scenery* (:func:`apply_scenery`): smooth multiplicative fields and
  straight distractors drawn under the dislocations, from the texture
  stream, so a video whose frames share a texture seed keeps them still;
* *camera* (:func:`apply_camera`): blur, grain noise and JPEG compression
  of the finished image, from the per-frame noise stream.

Every layer is off (a no-op that draws no random numbers) at the
parameters' defaults, so samples of presets that do not set them are
unchanged.
"""
from __future__ import annotations

import io
import math

import numpy as np

from .filters import upsample

_F = np.float32
_LOW = 8  # smooth fields are computed on a grid this many times coarser, then interpolated


def _coarse_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pixel coordinates (x, y) of a grid ``_LOW`` times coarser than (h, w), and the factor."""
    f = _LOW
    gh, gw = h // f + 2, w // f + 2
    ys = (np.arange(gh, dtype=np.float64) * f)[:, None]
    xs = (np.arange(gw, dtype=np.float64) * f)[None, :]
    return xs, ys, f


def illumination_field(h: int, w: int, params, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Multiplicative brightness: a linear gradient times a vignette, on the coarse grid (upsample it)."""
    xs, ys, f = _coarse_grid(h, w)
    g = params.illumination * float(rng.random())
    ang = float(rng.random()) * 2 * math.pi
    cx, cy = (w - 1) / 2, (h - 1) / 2
    half = 0.5 * math.hypot(w, h)
    grad = 1.0 + g * ((xs - cx) * math.cos(ang) + (ys - cy) * math.sin(ang)) / half / 2
    v = params.vignetting * float(rng.random())
    # vignette centred a little off the image centre, as with a tilted beam
    vx, vy = cx + (rng.random() - 0.5) * 0.4 * w, cy + (rng.random() - 0.5) * 0.4 * h
    r2 = ((xs - vx) ** 2 + (ys - vy) ** 2) / (half * half)
    field = grad * (1.0 - v * np.minimum(r2, 1.5))
    return np.maximum(field, 0.05), {"gradient": g, "gradient_angle": ang, "vignetting": v}


def bend_contours(h: int, w: int, params, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Broad curved dark bands (bend contours) as a multiplicative field on the coarse grid, and their records.

    Each contour is a circular arc of a random large radius through a random
    point of the image; the darkening across it is Gaussian with FWHM drawn
    up to ``bend_width`` px.
    """
    xs, ys, f = _coarse_grid(h, w)
    field = np.ones(np.broadcast_shapes(xs.shape, ys.shape))
    recs = []
    size = max(h, w)
    for _ in range(params.bend_contours):
        px, py = rng.random() * w, rng.random() * h
        radius = size * (0.3 + 3.0 * rng.random())
        ang = rng.random() * 2 * math.pi
        cx, cy = px + radius * math.cos(ang), py + radius * math.sin(ang)
        fwhm = params.bend_width * (0.3 + 0.7 * rng.random())
        c = params.bend_contrast * (0.3 + 0.7 * rng.random())
        d = np.hypot(xs - cx, ys - cy) - radius
        sigma = fwhm / 2.3548
        field = field * (1.0 - c * np.exp(-0.5 * (d / sigma) ** 2))
        recs.append({"centre": [cx, cy], "radius": radius, "fwhm": fwhm, "contrast": c})
    return field, recs


def _spans(h: int, w: int, origin, t, n, u_range: tuple, v_range: tuple, margin: float):
    """First and last column (int arrays, per row; first > last: none) of a rotated rectangle grown by ``margin``."""
    y = np.arange(h, dtype=np.float64)
    xl = np.zeros(h)
    xr = np.full(h, w - 1.0)
    for k, cy, (lo, hi) in ((t[0], (y - origin[1]) * t[1] - origin[0] * t[0], u_range),
                            (n[0], (y - origin[1]) * n[1] - origin[0] * n[0], v_range)):
        lo, hi = lo - margin, hi + margin
        if lo > hi:  # an empty range (a band too thin or too short to have an inside)
            return np.zeros(h, np.int64), np.full(h, -1, np.int64)
        if abs(k) < 1e-9:  # the coordinate does not change along a row: whole rows or none
            xr = np.where((cy >= lo) & (cy <= hi), xr, -1.0)
            continue
        xa, xb = (lo - cy) / k, (hi - cy) / k
        xl = np.maximum(xl, np.minimum(xa, xb))
        xr = np.minimum(xr, np.maximum(xa, xb))
    return np.ceil(xl).astype(np.int64), np.floor(xr).astype(np.int64)


def _pixels(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pixels from column ``first[i]`` to ``last[i]`` of each row i."""
    counts = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(first)), counts)
    starts = np.cumsum(counts) - counts
    return rows, np.arange(int(counts.sum())) - np.repeat(starts - first, counts)


def strip_pixels(h: int, w: int, origin, t, n, u_range: tuple, v_range: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pixels of an (h, w) image in a rotated rectangle, with a 2 px margin.

    The rectangle is ``u_range`` along the unit vector ``t`` and ``v_range``
    along the unit normal ``n``, measured from ``origin`` (x, y). Fields that
    are exactly zero outside such a strip (bands, fault fringes) are computed
    on these pixels only, with the same float32 operations as on a whole grid.
    """
    return _pixels(*_spans(h, w, origin, t, n, u_range, v_range, 2.0))


def apply_bands(field: np.ndarray, scene, params, rng: np.random.Generator) -> list:
    """Slipped bands: the strip between each pileup's two slip traces made brighter or darker.

    Multiplies the bands into ``field`` (an image, or a field of ones to
    multiply into one later) in place and returns their contrasts. The strip
    runs along the traces as far as they go; its edges are soft over about
    1.5 px, as the traces themselves.
    """
    h, w = field.shape
    recs = []
    by_pileup: dict = {}
    for tr in scene.traces:
        if tr.pileup >= 0:
            by_pileup.setdefault(tr.pileup, []).append(tr)
    for k in sorted(by_pileup):
        trs = by_pileup[k]
        c = params.band_contrast * float(2 * rng.random() - 1)
        if len(trs) < 2 or abs(c) < 1e-4:
            recs.append(0.0)
            continue
        a, b = trs[0].points, trs[1].points
        t = a[1] - a[0]
        L = float(np.hypot(*t))
        if L < 1e-6:
            recs.append(0.0)
            continue
        t = t / L
        n = np.array([-t[1], t[0]])
        dd = float((b[0] - a[0]) @ n)
        lo, hi = min(0.0, dd), max(0.0, dd)
        fade = 10.0 + 50.0 * float(rng.random())
        # the band is 1 outside the strip (u in (-0.75, L), v in (lo - 0.75, hi + 0.75)) and 1 + c well
        # inside it (u in [0.75, L - fade], v in [lo + 0.75, hi - 0.75], 0.01 px to spare): only its
        # edges are computed
        first, last = _spans(h, w, a[0], t, n, (-0.75, L), (lo - 0.75, hi + 0.75), 2.0)
        f_in, l_in = _spans(h, w, a[0], t, n, (0.75, L - fade), (lo + 0.75, hi - 0.75), -0.01)
        f_in, l_in = np.maximum(f_in, first), np.minimum(l_in, last)
        core = f_in <= l_in
        inner = _F(1) + _F(c) * _F(1)
        for y, x0, x1 in zip(np.flatnonzero(core).tolist(), f_in[core].tolist(), l_in[core].tolist()):
            field[y, x0:x1 + 1] *= inner  # a run of each row: no index arrays
        r1, c1 = _pixels(first, np.where(core, f_in - 1, last))
        r2, c2 = _pixels(np.where(core, l_in + 1, 1), np.where(core, last, 0))
        rows, cols = np.concatenate([r1, r2]), np.concatenate([c1, c2])
        yy, xx = rows.astype(_F), cols.astype(_F)
        u = (xx - _F(a[0][0])) * _F(t[0]) + (yy - _F(a[0][1])) * _F(t[1])
        v = (xx - _F(a[0][0])) * _F(n[0]) + (yy - _F(a[0][1])) * _F(n[1])
        # linear ramps 1.5 px wide at the edges (as soft as the traces drawn on them)
        inside = np.clip(np.minimum(v - _F(lo), _F(hi) - v) * _F(1 / 1.5) + _F(0.5), 0, 1)
        # where the traces end the band fades out over 10-60 px (the slip step dies out gradually)
        inside *= np.clip(np.minimum(u * _F(1 / 1.5) + _F(0.5), (_F(L) - u) * _F(1 / fade)), 0, 1)
        field[rows, cols] *= _F(1) + _F(c) * inside
        recs.append(c)
    return recs


def extra_traces(scene, params, rng: np.random.Generator) -> list:
    """Straight distractor lines that belong to no pileup (other slip traces, twin and grain boundaries).

    Most run along the image's slip directions (those of its pileups), some
    at random angles; some cross the whole image, others stop inside it; a
    share of them (``double_traces``) come as a close parallel pair.
    Returns ``(end points (2, 2), contrast, width)`` per line, for slip traces of no pileup.
    """
    h, w = scene.height, scene.width
    size = max(h, w)
    dirs = [math.degrees(math.atan2(*(tr.points[1] - tr.points[0])[::-1])) for tr in scene.traces if tr.pileup >= 0]
    out = []
    for _ in range(params.extra_traces):
        if dirs and rng.random() < 0.7:
            ang = dirs[int(rng.integers(len(dirs)))] + 3.0 * (2 * rng.random() - 1)
        else:
            ang = 180.0 * rng.random()
        a = math.radians(ang)
        t = np.array([math.cos(a), math.sin(a)])
        centre = np.array([rng.random() * w, rng.random() * h])
        if rng.random() < 0.6:
            half0, half1 = 2.0 * size, 2.0 * size
        else:
            half0, half1 = size * (0.1 + 0.6 * rng.random()), size * (0.1 + 0.6 * rng.random())
        # as strong as the dislocations: the preset's value, give or take 40 %
        contrast = params.extra_trace_contrast * (0.6 + 0.4 * rng.random())
        width = max(0.5, params.extra_trace_width * (0.6 + 0.4 * rng.random()))
        pts = np.stack([centre - half0 * t, centre + half1 * t])
        out.append((pts, contrast, width))
        if rng.random() < params.double_traces:
            n = np.array([-t[1], t[0]])
            gap = width + 2.0 + 6.0 * rng.random()
            out.append((pts + gap * n[None, :], contrast * (0.5 + 0.5 * rng.random()), width))
    return out


def double_pileup_traces(scene, params, rng: np.random.Generator) -> list:
    """A close parallel twin line beside some pileup slip traces (``double_traces`` probability).

    Returns ``(end points (2, 2), contrast, width)`` per line, as :func:`extra_traces`.
    """
    out = []
    for tr in scene.traces:
        if tr.pileup < 0 or not rng.random() < params.double_traces:
            continue
        d = tr.points[1] - tr.points[0]
        L = float(np.hypot(*d))
        if L < 1e-6:
            continue
        n = np.array([-d[1], d[0]]) / L
        side = 1.0 if rng.random() < 0.5 else -1.0
        gap = tr.width + 2.0 + 5.0 * rng.random()
        out.append((tr.points + side * gap * n[None, :], tr.contrast * (0.4 + 0.6 * rng.random()), tr.width))
    return out


def draw_fault_fringes(img: np.ndarray, params, rng: np.random.Generator, dirs: list) -> list:
    """Stacking-fault or twin-boundary fringes: bands of alternating dark and bright straight fringes.

    Each fault is a straight strip (along a slip direction when the image
    has one) of width up to ``fault_width`` px filled with a cosine of period
    ``fringe_period`` px and amplitude ``fringe_contrast``, fading in and
    out across the strip. Multiplies ``img`` in place.
    """
    h, w = img.shape
    recs = []
    if params.fault_fringes <= 0:
        return recs
    size = max(h, w)
    for _ in range(params.fault_fringes):
        ang = (dirs[int(rng.integers(len(dirs)))] if dirs and rng.random() < 0.7 else 180.0 * rng.random())
        a = math.radians(ang)
        t = np.array([math.cos(a), math.sin(a)])
        n = np.array([-t[1], t[0]])
        cx, cy = rng.random() * w, rng.random() * h
        width = params.fault_width * (0.3 + 0.7 * rng.random())
        period = params.fringe_period * (0.6 + 0.4 * rng.random())
        c = params.fringe_contrast * (0.4 + 0.6 * rng.random())
        length = size * (0.3 + 1.7 * rng.random())
        phase = rng.random() * 2 * math.pi
        # env is 0 (the factor exactly 1) outside |u| < length / 2, |v| < width / 2: only that strip is computed
        rows, cols = strip_pixels(h, w, (cx, cy), t, n, (-length / 2, length / 2), (-width / 2, width / 2))
        yy, xx = rows.astype(_F), cols.astype(_F)
        v = (xx - _F(cx)) * _F(n[0]) + (yy - _F(cy)) * _F(n[1])
        u = (xx - _F(cx)) * _F(t[0]) + (yy - _F(cy)) * _F(t[1])
        env = np.clip(1 - (2 * v / _F(width)) ** 2, 0, 1)
        env *= np.clip((_F(length / 2) - np.abs(u)) / _F(3), 0, 1)
        img[rows, cols] *= _F(1) + _F(c) * env * np.cos(_F(2 * math.pi / period) * v + _F(phase))
        recs.append({"angle": ang, "centre": [cx, cy], "width": width, "period": period, "contrast": c,
                     "length": length})
    return recs


def draw_striations(img: np.ndarray, params, rng: np.random.Generator, dirs: list) -> int:
    """Short faint straight streaks, mostly along the image's slip directions (multiplies ``img`` in place).

    Real backgrounds are streaked by surface steps and slip lines too thin to
    be traces; a network that has never seen them takes them for short
    dislocations.
    """
    from .draw import darken_segments, profile_radius

    h, w = img.shape
    n = int(params.striations)
    if n <= 0:
        return 0
    # every quantity drawn for all striations at once (one array per draw, not ~10 scalar draws each)
    u = rng.random((8, n))
    pick = rng.integers(len(dirs), size=n) if dirs else np.zeros(n, np.intp)
    along = (u[0] < 0.7) if dirs else np.zeros(n, bool)
    ang = np.where(along, np.asarray(dirs + [0.0], np.float64)[pick] + 4.0 * (2 * u[1] - 1), 180.0 * u[1])
    a = np.radians(ang)
    tx, ty = np.cos(a), np.sin(a)
    cx, cy = u[2] * w, u[3] * h
    half = 5.0 + 70.0 * u[4]
    widths = (1.0 + 2.0 * u[5]).tolist()
    contrasts = (params.striation_contrast * (0.5 + 0.5 * u[6]) * np.where(u[7] < 0.7, 1.0, -1.0)).tolist()
    p = np.stack([cx - half * tx, cy - half * ty], axis=1)
    q = np.stack([cx + half * tx, cy + half * ty], axis=1)
    ends = list(zip(p, q))
    radii = [profile_radius(wd, 0.0) for wd in widths]
    darken_segments(img, ends, radii, widths, contrasts, params.fast)
    return int(params.striations)


def draw_specks(img: np.ndarray, params, rng: np.random.Generator) -> int:
    """Small dark (or, for a negative contrast, bright) round specks: dirt, particles, small loops."""
    h, w = img.shape
    n = params.specks
    if n <= 0:
        return 0
    xs = rng.random(n) * w
    ys = rng.random(n) * h
    sig = np.maximum(0.4, params.speck_size * (0.3 + 0.7 * rng.random(n)) / 2.3548)
    cs = params.speck_contrast * (0.3 + 0.7 * rng.random(n))
    for x, y, s, c in zip(xs, ys, sig, cs):
        r = int(math.ceil(3 * s))
        x0, x1 = max(int(x) - r, 0), min(int(x) + r + 2, w)
        y0, y1 = max(int(y) - r, 0), min(int(y) + r + 2, h)
        if x0 >= x1 or y0 >= y1:
            continue
        gy = (np.arange(y0, y1, dtype=_F) - _F(y))[:, None]
        gx = (np.arange(x0, x1, dtype=_F) - _F(x))[None, :]
        img[y0:y1, x0:x1] *= _F(1) - _F(c) * np.exp(-(gx * gx + gy * gy) / _F(2 * s * s))
    return int(n)


def has_scenery(params) -> bool:
    return bool(params.illumination or params.vignetting or params.bend_contours or params.band_contrast
                or params.fault_fringes or params.striations or params.specks)


def apply_scenery(img: np.ndarray, scene, params, rng: np.random.Generator) -> dict:
    """Multiply the smooth fields into ``img`` and draw fringes and specks (in place); returns a record.

    Straight distractor lines are part of the scene (:func:`extra_traces`)
    and are drawn with the slip traces. ``params.renderer == "fast"``
    multiplies the illumination and the bend contours on their coarse grid
    and upsamples the product once.
    """
    if not has_scenery(params):
        return {}
    h, w = img.shape
    rec: dict = {}
    smooth = []  # fields on the coarse grid
    if params.illumination or params.vignetting:
        f, rec["illumination"] = illumination_field(h, w, params, rng)
        smooth.append(f)
    if params.bend_contours:
        f, rec["bend_contours"] = bend_contours(h, w, params, rng)
        smooth.append(f)
    if params.fast and len(smooth) == 2:  # multiplied on the coarse grid: one image to upsample
        smooth = [smooth[0] * smooth[1]]
    for f in smooth:
        img *= upsample(f, h, w, _LOW)
    if params.band_contrast and params.fast:  # straight into the image: no full-size field
        rec["bands"] = apply_bands(img, scene, params, rng)
    elif params.band_contrast:  # a field of the bands, multiplied in once (as earlier versions did)
        f = np.ones((h, w), _F)
        rec["bands"] = apply_bands(f, scene, params, rng)
        img *= f
    dirs = [math.degrees(math.atan2(*(tr.points[1] - tr.points[0])[::-1])) for tr in scene.traces if tr.pileup >= 0]
    if params.fault_fringes:
        rec["fault_fringes"] = draw_fault_fringes(img, params, rng, dirs)
    if params.striations:
        rec["striations"] = draw_striations(img, params, rng, dirs)
    if params.specks:
        rec["specks"] = draw_specks(img, params, rng)
    return rec


def has_camera(params) -> bool:
    return bool(params.final_blur or params.grain_noise or params.jpeg_quality)


def apply_camera(img: np.ndarray, params, rng: np.random.Generator) -> np.ndarray:
    """Blur, grain noise and JPEG compression of the finished image; returns the new image in [0, 1]."""
    if params.final_blur > 0:
        from .background import gauss_rows
        from .filters import gauss32

        # ndimage.gaussian_filter's result, sooner; or in single precision, sooner still
        img = (gauss32 if params.fast else gauss_rows)(img, params.final_blur)
    if params.grain_noise > 0:
        from .filters import normal32

        grain = normal32(rng, img.shape)  # a quantile table: the same distribution, a fifth of the time
        grain *= _F(params.grain_noise)
        grain += img  # img + grain
        img = grain
    np.clip(img, 0.0, 1.0, out=img)
    if params.jpeg_quality > 0:
        from PIL import Image

        from ..io.dataset import to_uint8

        buf = io.BytesIO()
        Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=int(params.jpeg_quality))
        buf.seek(0)
        img = np.array(Image.open(buf), dtype=_F)
        img *= _F(1 / 255)
    return img.astype(_F, copy=False)

