"""Training augmentations: the paper's photometric ones plus flips, rotations and crops.

Geometric transforms (crop, pad, flip, rot90) act identically on the image
and on every mask; photometric ones (noise, brightness, contrast, histogram
equalisation) on the image only. All take an explicit ``numpy`` Generator,
so a sample's augmentation depends on (seed, epoch, index) alone and not on
the number of loader workers.
"""
from __future__ import annotations

import numpy as np

#: The paper's photometric augmentations plus flips and quarter turns: the default for synthetic training.
DEFAULT_AUGMENTATIONS = ("flip", "rot90", "noise", "brightness", "contrast", "equalize")
#: Every augmentation; ``gamma``, ``blur`` and ``scale`` (small zoom jitter) are what real frames vary in
#: besides.
AUGMENTATIONS = DEFAULT_AUGMENTATIONS + ("gamma", "blur", "scale")
#: What varies between frames of one video, and none of the geometric ones: fine-tuning on its annotated frames.
PHOTOMETRIC = ("brightness", "contrast", "noise", "gamma", "blur")
SCALE_JITTER = (0.85, 1.2)  # zoom range of the "scale" augmentation


def fit_to_size(image: np.ndarray, masks: np.ndarray, size: int, rng: np.random.Generator | None,
                on_lines: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Crop and/or pad an image and its masks to ``size`` x ``size`` px.

    A larger side is cropped at a random offset (``rng``) or centred
    (``rng=None``); a smaller side is padded, the image by reflection, the
    masks with zeros -- a frame of another size never stops training.
    With ``on_lines`` > 0, that share of the random crops is placed over a
    line pixel drawn at random (any place in the crop), so crowded parts of
    a frame, which hold most of its line pixels, are cropped more often.
    """
    h, w = image.shape
    if h > size or w > size:
        y0 = 0 if h <= size else (int(rng.integers(0, h - size + 1)) if rng is not None else (h - size) // 2)
        x0 = 0 if w <= size else (int(rng.integers(0, w - size + 1)) if rng is not None else (w - size) // 2)
        if rng is not None and on_lines > 0 and len(masks) and rng.random() < on_lines:
            ys, xs = np.nonzero(masks.max(axis=0))
            if len(ys):
                k = int(rng.integers(len(ys)))
                if h > size:
                    y0 = int(np.clip(ys[k] - rng.integers(0, size), 0, h - size))
                if w > size:
                    x0 = int(np.clip(xs[k] - rng.integers(0, size), 0, w - size))
        image = image[y0:y0 + size, x0:x0 + size]
        masks = masks[:, y0:y0 + size, x0:x0 + size]
        h, w = image.shape
    if h < size or w < size:
        ph, pw = size - h, size - w
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        image = np.pad(image, pads, mode="reflect" if min(h, w) > 1 else "edge")
        masks = np.pad(masks, ((0, 0), *pads))
    return np.ascontiguousarray(image), np.ascontiguousarray(masks)


def zoom_jitter(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Zoom image and masks by one random factor in :data:`SCALE_JITTER`, keeping their size.

    Zooming in crops the centre; zooming out pads (image by reflection,
    masks with zeros). Masks are zoomed nearest-neighbour so they stay 0/1.
    """
    from scipy import ndimage

    f = float(rng.uniform(*SCALE_JITTER))
    h, w = image.shape
    img = ndimage.zoom(image, f, order=1, mode="nearest", grid_mode=True)
    m = ndimage.zoom(masks.astype(np.uint8), (1, f, f), order=0, mode="nearest", grid_mode=True) if len(masks) \
        else np.zeros((0, *img.shape), np.uint8)
    zh, zw = img.shape
    y0, x0 = max(0, (zh - h) // 2), max(0, (zw - w) // 2)
    img, m = img[y0:y0 + h, x0:x0 + w], m[:, y0:y0 + h, x0:x0 + w]
    if img.shape != (h, w):
        img, m = fit_to_size(img, m, max(h, w), None)
        img, m = img[:h, :w], m[:, :h, :w]
    return np.ascontiguousarray(img, np.float32), np.ascontiguousarray(m.astype(masks.dtype))


def geometric(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator, flip: bool = True,
              rot90: bool = True, scale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random flips, quarter turns and (``scale``) zoom jitter, the same on image (H, W) and masks (K, H, W)."""
    if flip and rng.random() < 0.5:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    if flip and rng.random() < 0.5:
        image, masks = image[::-1], masks[:, ::-1]
    if rot90 and image.shape[0] == image.shape[1]:
        k = int(rng.integers(0, 4))
        if k:
            image, masks = np.rot90(image, k), np.rot90(masks, k, axes=(1, 2))
    if scale and rng.random() < 0.5:
        return zoom_jitter(np.ascontiguousarray(image), np.ascontiguousarray(masks), rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(masks)


def photometric(image: np.ndarray, rng: np.random.Generator, noise: bool = True, brightness: bool = True,
                contrast: bool = True, equalize: bool = True, gamma: bool = False, blur: bool = False) -> np.ndarray:
    """The paper's augmentations on a float image in [0, 1]; returns float32 in [0, 1].

    Histogram equalisation (p = 0.2) first, as it overrides the gray values;
    then contrast x U(0.6, 1.4) about the mean, brightness + U(-0.15, 0.15),
    and Gaussian noise of std U(0, 0.06) (p = 0.5). With ``blur``, a Gaussian
    blur of sigma U(0.3, 1.2) px (p = 0.3) before the noise; with ``gamma``,
    gray values to the power U(0.7, 1.4) (p = 0.5) at the end.
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
    if blur and rng.random() < 0.3:
        from scipy import ndimage

        img = ndimage.gaussian_filter(img, float(rng.uniform(0.3, 1.2)), mode="reflect")
    if noise and rng.random() < 0.5:
        img = img + rng.normal(0.0, float(rng.uniform(0.0, 0.06)), img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0)
    if gamma and rng.random() < 0.5:
        img = img ** np.float32(rng.uniform(0.7, 1.4))
    return img.astype(np.float32)


def augment(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator, names: tuple[str, ...]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the augmentations named in ``names`` (see :data:`AUGMENTATIONS`)."""
    image, masks = geometric(image, masks, rng, "flip" in names, "rot90" in names, "scale" in names)
    image = photometric(image, rng, "noise" in names, "brightness" in names, "contrast" in names,
                        "equalize" in names, "gamma" in names, "blur" in names)
    return image, masks
