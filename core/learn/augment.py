"""Training augmentations: the paper's photometric ones plus flips, rotations and crops.

Geometric transforms (crop, pad, flip, rot90) act identically on the image
and on every mask; photometric ones (noise, brightness, contrast, histogram
equalisation) on the image only. All take an explicit ``numpy`` Generator,
so a sample's augmentation depends on (seed, epoch, index) alone and not on
the number of loader workers.
"""
from __future__ import annotations

import numpy as np

AUGMENTATIONS = ("flip", "rot90", "noise", "brightness", "contrast", "equalize")


def fit_to_size(image: np.ndarray, masks: np.ndarray, size: int, rng: np.random.Generator | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Crop and/or pad an image and its masks to ``size`` x ``size`` px.

    A larger side is cropped at a random offset (``rng``) or centred
    (``rng=None``); a smaller side is padded, the image by reflection, the
    masks with zeros -- a frame of another size never stops training.
    """
    h, w = image.shape
    if h > size or w > size:
        y0 = 0 if h <= size else (int(rng.integers(0, h - size + 1)) if rng is not None else (h - size) // 2)
        x0 = 0 if w <= size else (int(rng.integers(0, w - size + 1)) if rng is not None else (w - size) // 2)
        image = image[y0:y0 + size, x0:x0 + size]
        masks = masks[:, y0:y0 + size, x0:x0 + size]
        h, w = image.shape
    if h < size or w < size:
        ph, pw = size - h, size - w
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        image = np.pad(image, pads, mode="reflect" if min(h, w) > 1 else "edge")
        masks = np.pad(masks, ((0, 0), *pads))
    return np.ascontiguousarray(image), np.ascontiguousarray(masks)


def geometric(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator, flip: bool = True,
              rot90: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random flips and quarter turns, the same on image (H, W) and masks (K, H, W)."""
    if flip and rng.random() < 0.5:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    if flip and rng.random() < 0.5:
        image, masks = image[::-1], masks[:, ::-1]
    if rot90 and image.shape[0] == image.shape[1]:
        k = int(rng.integers(0, 4))
        if k:
            image, masks = np.rot90(image, k), np.rot90(masks, k, axes=(1, 2))
    return np.ascontiguousarray(image), np.ascontiguousarray(masks)


def photometric(image: np.ndarray, rng: np.random.Generator, noise: bool = True, brightness: bool = True,
                contrast: bool = True, equalize: bool = True) -> np.ndarray:
    """The paper's augmentations on a float image in [0, 1]; returns float32 in [0, 1].

    Histogram equalisation (p = 0.2) first, as it overrides the gray values;
    then contrast x U(0.6, 1.4) about the mean, brightness + U(-0.15, 0.15),
    and Gaussian noise of std U(0, 0.06) (p = 0.5).
    """
    img = image.astype(np.float32, copy=True)
    if equalize and rng.random() < 0.2:
        from skimage.exposure import equalize_hist

        img = equalize_hist(img).astype(np.float32)
    if contrast and rng.random() < 0.8:
        m = float(img.mean())
        img = (img - m) * float(rng.uniform(0.6, 1.4)) + m
    if brightness and rng.random() < 0.8:
        img = img + float(rng.uniform(-0.15, 0.15))
    if noise and rng.random() < 0.5:
        img = img + rng.normal(0.0, float(rng.uniform(0.0, 0.06)), img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def augment(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator, names: tuple[str, ...]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the augmentations named in ``names`` (see :data:`AUGMENTATIONS`)."""
    image, masks = geometric(image, masks, rng, "flip" in names, "rot90" in names)
    image = photometric(image, rng, "noise" in names, "brightness" in names, "contrast" in names,
                        "equalize" in names)
    return image, masks
