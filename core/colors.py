"""One colour per dislocation, shared by overlays in files and in the GUI."""
from __future__ import annotations

import numpy as np

# 20 well-separated colours (tab20 reordered so neighbours differ), RGB 0-255.
PALETTE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (255, 187, 120),
        (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210),
        (219, 219, 141), (158, 218, 229), (174, 199, 232), (127, 127, 127), (199, 199, 199),
    ],
    dtype=np.uint8,
)


def color(i: int) -> tuple[int, int, int]:
    """RGB colour of dislocation ``i`` (cycles after 20)."""
    return tuple(int(c) for c in PALETTE[i % len(PALETTE)])


#: Palette index (grey) of a mask without a track id.
UNKNOWN_COLOUR = 18


def colour_index(dislocation_id: int) -> int:
    """Palette index of a track id (ids start at 1; 0 = unknown, grey)."""
    return (dislocation_id - 1) % len(PALETTE) if dislocation_id > 0 else UNKNOWN_COLOUR


def colour_of(dislocation_id: int) -> tuple[int, int, int]:
    """RGB colour of a track id: the same dislocation has the same colour in every frame and view."""
    return tuple(int(v) for v in PALETTE[colour_index(dislocation_id)])


def overlay_masks(masks: np.ndarray, image: np.ndarray | None = None, alpha: float = 0.6) -> np.ndarray:
    """Colour instance masks (K, H, W) into one RGB uint8 picture.

    With ``image`` (H, W) in [0, 1] or uint8, masks are blended over it;
    without, over black. Where masks overlap, the later one wins.
    """
    masks = np.asarray(masks, dtype=bool)
    k, h, w = masks.shape if masks.ndim == 3 else (0, *masks.shape[-2:])
    if image is None:
        out = np.zeros((h, w, 3), np.float32)
        a = 1.0
    else:
        img = np.asarray(image, np.float32)
        if img.max() > 1.0:
            img = img / 255.0
        out = np.repeat(img[..., None] * 255.0, 3, axis=2)
        a = alpha
    for i in range(k):
        m = masks[i]
        out[m] = (1 - a) * out[m] + a * PALETTE[i % len(PALETTE)]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def overlay_by_id(image: np.ndarray, masks: np.ndarray, ids: list[int]) -> np.ndarray:
    """RGB uint8 overlay (H, W, 3) of masks (K, H, W) on ``image``, each in the colour of its track id."""
    h, w = image.shape
    stack = np.zeros((len(PALETTE), h, w), bool)
    for m, i in zip(masks, ids):
        stack[colour_index(i)] |= m
    return overlay_masks(stack, image)
