"""Tiny real datasets for training tests: smooth dark lines on a noisy background.

Written in the core/io/dataset.py format with core.io.dataset.write_sample and
core.io.labelme.rasterize_polyline, from a fixed seed, so tests do not depend
on the synthetic generator.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from core.colors import overlay_masks
from core.io import dataset
from core.io.labelme import LabelFile, rasterize_polyline, write_labelme


def random_polyline(rng: np.random.Generator, size: int) -> np.ndarray:
    """A gently curved line (P, 2) of (x, y) px crossing a good part of the frame."""
    p0 = rng.uniform(0.1, 0.9, 2) * size
    ang = rng.uniform(0, np.pi)
    length = rng.uniform(0.35, 0.7) * size
    d = np.array([np.cos(ang), np.sin(ang)])
    normal = np.array([-d[1], d[0]])
    t = np.linspace(-0.5, 0.5, 12)[:, None]
    bow = rng.uniform(-0.12, 0.12) * size * (1 - (2 * t) ** 2)
    pts = p0 + t * length * d + bow * normal
    return np.clip(pts, 1, size - 2)


def make_frame(rng: np.random.Generator, size: int, n_lines: int, width: float = 2.0):
    """(image float32 (H, W) in [0, 1], masks bool (K, H, W), polylines)."""
    bg = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 6)
    bg = 0.55 + 0.1 * bg / (np.abs(bg).max() + 1e-9) + rng.normal(0, 0.03, (size, size))
    polys = [random_polyline(rng, size) for _ in range(n_lines)]
    masks = np.stack([rasterize_polyline(p, (size, size), width) for p in polys]) if polys else \
        np.zeros((0, size, size), bool)
    img = bg.copy()
    for m in masks:
        img -= 0.3 * ndimage.gaussian_filter(m.astype(float), 0.7)
    return np.clip(img, 0, 1).astype(np.float32), masks, polys


def make_line_dataset(root: Path, n: int = 12, size: int = 64, lines: tuple[int, int] = (1, 3),
                      seed: int = 0, width: float = 2.0) -> Path:
    """Write ``n`` samples of ``size`` px with ``lines[0]..lines[1]`` lines each; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n):
        k = int(rng.integers(lines[0], lines[1] + 1))
        img, masks, _ = make_frame(rng, size, k, width)
        u8 = np.round(img * 255).astype(np.uint8)
        dataset.write_sample(root, dataset.sample_id(i), u8, masks, overlay_masks(masks, img),
                             {"seed": seed, "index": i, "n_lines": k})
    dataset.write_manifest(root, {"image_size": size, "n_samples": n, "generator": "tests/_lines.py"})
    return root


def make_labelme_folder(root: Path, n: int = 3, size: int = 64, seed: int = 1) -> Path:
    """``n`` annotated frames: frame_i.png next to frame_i.json (one linestrip per line)."""
    import imageio.v3 as iio

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, _, polys = make_frame(rng, size, int(rng.integers(1, 4)))
        iio.imwrite(root / f"frame_{i}.png", np.round(img * 255).astype(np.uint8))
        write_labelme(root / f"frame_{i}.json", LabelFile.from_polylines(polys, f"frame_{i}.png", size, size))
    return root
