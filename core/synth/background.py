"""Backgrounds: Perlin noise (method §1a) and blended real crops (§1b).

Both return float32 (H, W) in [0, 1] and a record (plain dict) of what was
drawn, which goes into the sample's params JSON. scipy is imported only when
used (the exact renderer, stretched crops): the fast renderer needs none.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DislocError
from .filters import gauss32, uniform32, upsample
from .params import SynthParams
from .perlin import perlin, perlin_fast

PATCH_SUFFIXES = (".png", ".tif", ".tiff")
_F = np.float32


def gauss_rows(a: np.ndarray, sigma: float) -> np.ndarray:
    """``ndimage.gaussian_filter(a, sigma, mode="reflect")`` of a 2-D array, bit for bit, in about 2/3 of the time.

    scipy filters axis 0 then axis 1, each line in double and rounded back to
    ``a``'s dtype; its column pass reads memory across rows and costs twice
    the row pass. Here both passes run along rows of a transposed copy: the
    same lines, the same arithmetic, the same roundings.
    """
    if sigma <= 0:
        return a
    from scipy import ndimage

    b = ndimage.gaussian_filter1d(np.ascontiguousarray(a.T), sigma, axis=1, mode="reflect")  # axis 0, transposed
    return ndimage.gaussian_filter1d(np.ascontiguousarray(b.T), sigma, axis=1, mode="reflect")


def _uniform_pm1(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """White noise U(-1, 1), float32: ``rng.random * 2 - 1``."""
    x = rng.random(shape, dtype=_F)
    x *= _F(2)
    x -= _F(1)
    return x


def _reach(sigma: float) -> int:
    """Rows on each side that scipy's Gaussian of ``sigma`` reads (truncate 4, its default)."""
    return int(4.0 * float(sigma) + 0.5) if sigma > 0 else 0


def perlin_background(params: SynthParams, texture_rng: np.random.Generator,
                      noise_rng: np.random.Generator, rows: Optional[int] = None) -> tuple[np.ndarray, dict]:
    """The paper's Perlin background (§3.1, Table 1), float32 in [0, 1].

    ::

        P3 = P(lambda1) + w_perlin * P(lambda2);  P3* = minmax(P3)
        P4 = P3* + w_white * X1      X1 ~ U[-1, 1] per pixel
        P5 = gauss(P4, s1)
        P6 = P5 + r_noise * std(P4) * X2
        P7 = gauss(P6, s2);  background = clip(P7, 0, 1)

    The Perlin fields come from ``texture_rng`` and the white noise from
    ``noise_rng``, so a video can keep the texture and renew the noise.
    ``params.renderer == "fast"`` takes :func:`_perlin_background_fast`.
    With ``rows`` (a frame less tall than wide) only the first ``rows`` rows
    are returned, the same numbers, and the filters skip the rows below
    (min, max and std still run over the whole square).
    """
    if params.fast:
        return _perlin_background_fast(params, texture_rng, noise_rng, rows)
    n = params.size
    p1 = perlin(n, n, params.lambda1, texture_rng, params.perlin_backend)
    p2 = perlin(n, n, params.lambda2, texture_rng, params.perlin_backend)
    # (in place, the same operations: fresh 1 MB arrays cost more than the arithmetic)
    p3 = p2
    p3 *= _F(params.w_perlin)
    p3 += p1
    lo, hi = float(p3.min()), float(p3.max())
    if hi > lo:
        p3 -= _F(lo)
        p3 *= _F(1.0 / (hi - lo))
    else:
        p3 = np.zeros_like(p3)
    p4 = _uniform_pm1(noise_rng, (n, n))  # x1
    p4 *= _F(params.w_white)
    p4 += p3
    # a filtered row reads only the rows within the filter's reach: filter no further than needed
    r1, r2 = _reach(params.s1), _reach(params.s2)
    cut = n if rows is None or rows + r1 + r2 >= n else rows + r1 + r2
    p5 = gauss_rows(p4[:cut], params.s1)
    ww2 = params.r_noise * float(p4.std())
    x2 = _uniform_pm1(noise_rng, (n, n))
    cut = n if cut == n else cut - r1
    p6 = x2[:cut]
    p6 *= _F(ww2)
    p6 += p5[:cut]
    p7 = gauss_rows(p6, params.s2)
    if rows is not None:
        p7 = p7[:rows]
    np.clip(p7, 0.0, 1.0, out=p7)
    return p7.astype(_F, copy=False), {"kind": "perlin", "ww2": ww2}


def _noise_variance(sigma: float) -> float:
    """Variance of :func:`gauss32` of unit-variance white noise: the squared kernel weights, summed, squared."""
    if sigma <= 0:
        return 1.0
    from .filters import _kernel

    k = np.asarray(_kernel(float(sigma)), np.float64)
    return float((k[0] ** 2 + 2.0 * (k[1:] ** 2).sum()) ** 2)


def _perlin_background_fast(params: SynthParams, texture_rng: np.random.Generator,
                            noise_rng: np.random.Generator, rows: Optional[int]) -> tuple[np.ndarray, dict]:
    """The fast renderer's Perlin background: the same texture, noise strength and grain, a third of the work.

    ::

        P3* = minmax(P(lambda1) + w_perlin * P(lambda2))   the exact pipeline's fields (the same
                                                          draws), sampled every min(lambda) / 8 px,
                                                          upsampled once: only the rows returned
        background = clip(P3* + a * gauss(X, sigma), 0, 1)    X ~ U[-1, 1], one field

    The exact pipeline's two noises (``w_white * X1`` through the filters s1
    and s2, ``r_noise * std(P4) * X2`` through s2) become one: ``a`` gives it
    their summed variance after those filters, and ``sigma`` is their filter
    widths averaged by variance, which keeps the pixel-to-pixel grain (on 40
    realistic samples: standard deviation 1.04x, grain 0.98x the exact
    pipeline's). The Perlin sum, smooth already, is not filtered. One noise
    field and one filter instead of two and two.
    """
    n = params.size
    h = n if rows is None else int(rows)
    # eight samples or more per lattice cell of the finer field: bilinear interpolation between them
    # errs by a few thousandths of the field's range, far below the noise added on top
    f = max(1, int(min(params.lambda1, params.lambda2) / 8.0)) if params.perlin_backend == "fast" else 1
    if f == 1:  # the whole square, as the exact pipeline draws and normalises it
        p3 = perlin(n, n, params.lambda1, texture_rng, params.perlin_backend)
        p2 = perlin(n, n, params.lambda2, texture_rng, params.perlin_backend)
    else:
        p3 = perlin_fast(n, n, params.lambda1, texture_rng, step=f)
        p2 = perlin_fast(n, n, params.lambda2, texture_rng, step=f)
    p2 *= _F(params.w_perlin)
    p3 += p2
    lo, hi = float(p3.min()), float(p3.max())  # interpolation stays within the samples' range
    if hi > lo:
        p3 -= _F(lo)
        p3 *= _F(1.0 / (hi - lo))
    else:
        p3[:] = 0.0
    p3 = upsample(p3[: h // f + 2], h, n, f) if f > 1 else p3[:h]
    u_var = 1.0 / 3.0  # of U[-1, 1]
    std4 = float(np.sqrt(p3.var() + params.w_white ** 2 * u_var))  # std(P4), P4 = P3* + w_white X1
    ww2 = params.r_noise * std4
    s12 = float(np.hypot(params.s1, params.s2))
    v1 = params.w_white ** 2 * _noise_variance(s12)  # the two noises' variances after the exact filters
    v2 = ww2 ** 2 * _noise_variance(params.s2)
    # one noise of their summed variance, its grain (filter width) their variance-weighted mean
    sigma = float(np.sqrt((v1 * s12 ** 2 + v2 * params.s2 ** 2) / (v1 + v2))) if v1 + v2 > 0 else params.s2
    a = float(np.sqrt((v1 + v2) / _noise_variance(sigma)))
    x = uniform32(noise_rng, (h, n))
    x *= _F(a)
    p7 = gauss32(x, sigma)
    p7 += p3
    np.clip(p7, 0.0, 1.0, out=p7)
    return p7, {"kind": "perlin", "ww2": ww2}


class PatchLibrary:
    """The background crops of one folder, loaded lazily and cached.

    Files are the folder's ``*.png``, ``*.tif``, ``*.tiff`` sorted by name
    (8/16-bit, gray or RGB, any size). A corrupt file raises
    :class:`DislocError` naming it when it is first read; :meth:`check`
    reads them all up front.
    """

    def __init__(self, folder) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DislocError(f"{self.folder}: background folder not found (patch_dir)")
        self.files = sorted(p for p in self.folder.iterdir()
                            if p.suffix.lower() in PATCH_SUFFIXES and not p.name.startswith("."))
        if not self.files:
            raise DislocError(f"{self.folder}: no background images (PNG/TIFF) in this folder (patch_dir)")
        self._cache: "OrderedDict[Path, np.ndarray]" = OrderedDict()

    def load(self, path: Path) -> np.ndarray:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        from ..io.dataset import load_image

        try:
            img = load_image(path)
        except DislocError as e:
            msg = str(e)
            raise DislocError(msg if str(path) in msg else f"{path}: {msg}") from None
        if min(img.shape) < 8:
            raise DislocError(f"{path}: background crop is only {img.shape[1]}x{img.shape[0]} px; need at least 8x8")
        self._cache[path] = img
        if len(self._cache) > 64:  # bounded: a library of large crops must not fill memory
            self._cache.popitem(last=False)
        return img

    def check(self) -> int:
        """Read every file once; raise DislocError naming the first bad one."""
        for p in self.files:
            self.load(p)
        return len(self.files)


_LIBRARIES: "OrderedDict[tuple, PatchLibrary]" = OrderedDict()


def patch_library(folder) -> PatchLibrary:
    """A cached :class:`PatchLibrary` (refreshed when the folder changes)."""
    folder = Path(folder).resolve()
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        raise DislocError(f"{folder}: background folder not found (patch_dir)") from None
    key = (folder, stamp)
    lib = _LIBRARIES.get(key)
    if lib is None:
        lib = PatchLibrary(folder)
        _LIBRARIES[key] = lib
        while len(_LIBRARIES) > 4:
            _LIBRARIES.popitem(last=False)
    return lib


def _orient(a: np.ndarray, k: int) -> np.ndarray:
    a = np.rot90(a, k % 4)
    return a[:, ::-1] if k >= 4 else a


def _crop(img: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    h, w = img.shape
    side = min(h, w, size)
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    k = int(rng.integers(0, 8))
    crop = _orient(img[y0:y0 + side, x0:x0 + side], k)
    if side != size:  # small crops are stretched; larger ones keep their pixel scale
        from scipy import ndimage

        crop = ndimage.zoom(crop, size / side, order=1, mode="nearest", grid_mode=True)
        crop = crop[:size, :size]
    return np.ascontiguousarray(crop, dtype=_F), [x0, y0, side, k]


def patch_background(params: SynthParams, rng: np.random.Generator,
                     library: Optional[PatchLibrary] = None) -> tuple[np.ndarray, dict]:
    """Two random crops of real backgrounds blended: ``B = (1 - a) B1 + a B2``, a ~ U(0, 1).

    The record holds the two file names, the crops ``[x0, y0, side, orientation]``
    (orientation 0-7: quarter turns, +4 mirrored) and ``a``.
    """
    lib = library or patch_library(params.patch_dir)
    i1, i2 = (int(i) for i in rng.integers(0, len(lib.files), 2))
    b1, c1 = _crop(lib.load(lib.files[i1]), params.size, rng)
    b2, c2 = _crop(lib.load(lib.files[i2]), params.size, rng)
    a = float(rng.random())
    bg = (_F(1 - a) * b1 + _F(a) * b2).astype(_F)
    np.clip(bg, 0.0, 1.0, out=bg)
    rec = {"kind": "patches", "files": [lib.files[i1].name, lib.files[i2].name], "crops": [c1, c2], "a": a}
    return bg, rec


def make_background(params: SynthParams, texture_rng: np.random.Generator,
                    noise_rng: np.random.Generator, rows: Optional[int] = None) -> tuple[np.ndarray, dict]:
    """The background chosen by ``params.background`` (its first ``rows`` rows, or all)."""
    if params.background == "patches":
        bg, rec = patch_background(params, texture_rng)
        return (bg if rows is None else bg[:rows]), rec
    return perlin_background(params, texture_rng, noise_rng, rows)
