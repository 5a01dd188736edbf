"""2-D Perlin (gradient) noise of one main wavelength.

Two backends give the same kind of field:

* :func:`perlin_fast`: vectorised numpy, float32, a small lattice of random
  unit gradients (one per ``wavelength`` px); about 1 ms for 512 x 512.
* :func:`perlin_paper`: the paper's approach, ``noise.pnoise2`` called once
  per pixel (optional package ``noise==1.2.2``, a C extension that needs a
  compiler; about 0.14 s for 512 x 512).

Both return roughly zero-mean values of order ±0.7; the background pipeline
min-max normalises their sum, so only the relative weights matter.
"""
from __future__ import annotations

import numpy as np

from ..errors import DislocError

_F = np.float32


def _fade(t: np.ndarray) -> np.ndarray:
    # Perlin's quintic 6t^5 - 15t^4 + 10t^3: continuous second derivative
    return t * t * t * (t * (t * _F(6) - _F(15)) + _F(10))


def perlin_fast(height: int, width: int, wavelength: float, rng: np.random.Generator,
                step: int = 1) -> np.ndarray:
    """Gradient noise with lattice spacing ``wavelength`` px, float32 (height, width).

    Vectorised without per-pixel gathers: the field at (x, y) in lattice
    cell (i, j) is ``A_j(x) + fy * B_j(x)`` interpolated between rows j and
    j + 1, where A and B are computed once per lattice row (a few dozen rows).

    With ``step`` > 1 the same field (the same random draws) is sampled at
    every ``step``-th pixel from pixel 0 instead, ``(height // step + 2,
    width // step + 2)`` samples that cover the image for
    :func:`core.synth.filters.upsample` (the last ones lie past its edge, on
    gradients repeated from the edge cells).
    """
    lam = _F(max(float(wavelength), 1e-3))
    ox, oy = rng.random(2)  # random lattice origin, so features don't align with pixel 0
    xs = (np.arange(width, dtype=_F) + _F(0.5)) / lam + _F(ox)
    ys = (np.arange(height, dtype=_F) + _F(0.5)) / lam + _F(oy)
    ny, nx = int(np.floor(ys[-1])) + 2, int(np.floor(xs[-1])) + 2
    ang = rng.random((ny, nx)) * (2.0 * np.pi)
    gx = np.cos(ang).astype(_F)
    gy = np.sin(ang).astype(_F)
    if step > 1:
        xs = (np.arange(width // step + 2, dtype=_F) * _F(step) + _F(0.5)) / lam + _F(ox)
        ys = (np.arange(height // step + 2, dtype=_F) * _F(step) + _F(0.5)) / lam + _F(oy)
        grow = ((0, max(0, int(np.floor(ys[-1])) + 2 - ny)), (0, max(0, int(np.floor(xs[-1])) + 2 - nx)))
        gx, gy = np.pad(gx, grow, mode="edge"), np.pad(gy, grow, mode="edge")
    ix = np.floor(xs).astype(np.intp)
    iy = np.floor(ys).astype(np.intp)
    fx = xs - ix.astype(_F)
    fy = ys - iy.astype(_F)
    u = _fade(fx)
    v = _fade(fy)
    a0 = gx[:, ix] * fx
    a1 = gx[:, ix + 1] * (fx - _F(1))
    A = a0 + u * (a1 - a0)  # (ny, width): x part of the dot products, lerped in x
    b0 = gy[:, ix]
    B = b0 + u * (gy[:, ix + 1] - b0)  # (ny, width): gy lerped in x, to be times fy
    # top + v (bot - top) with top = A[iy] + fy B[iy], bot = A[iy + 1] + (fy - 1) B[iy + 1], in place
    top = A[iy]
    tmp = B[iy]
    tmp *= fy[:, None]
    top += tmp
    bot = A[iy + 1]
    np.take(B, iy + 1, axis=0, out=tmp)
    tmp *= (fy - _F(1))[:, None]
    bot += tmp
    bot -= top
    bot *= v[:, None]
    bot += top
    return bot


def _import_noise():
    try:
        import noise  # noqa: PLC0415 - optional, C extension
    except ImportError:
        raise DislocError(
            "perlin_backend='paper' needs the optional package 'noise': pip install noise==1.2.2 "
            "(it compiles a C extension, so a compiler is needed); or use perlin_backend='fast'"
        ) from None
    return noise


def perlin_paper(height: int, width: int, wavelength: float, rng: np.random.Generator) -> np.ndarray:
    """The paper's field: ``noise.pnoise2(x / wavelength, y / wavelength)`` per pixel.

    Slow (a Python call per pixel), kept for exact comparison with the paper.
    The random state picks pnoise2's permutation ``base`` and an offset of the
    sampling origin.
    """
    noise = _import_noise()
    base = int(rng.integers(0, 256))
    ox, oy = rng.random(2) * 1024.0
    lam = max(float(wavelength), 1e-3)
    out = np.empty((height, width), np.float32)
    pn = noise.pnoise2
    for i in range(height):
        y = oy + i / lam
        row = out[i]
        for j in range(width):
            row[j] = pn(ox + j / lam, y, octaves=1, base=base)
    return out


def perlin(height: int, width: int, wavelength: float, rng: np.random.Generator, backend: str = "fast") -> np.ndarray:
    """Dispatch to :func:`perlin_fast` or :func:`perlin_paper` by ``backend``."""
    if backend == "fast":
        return perlin_fast(height, width, wavelength, rng)
    if backend == "paper":
        return perlin_paper(height, width, wavelength, rng)
    raise DislocError(f"perlin_backend: {backend!r} is not one of 'fast', 'paper'")
