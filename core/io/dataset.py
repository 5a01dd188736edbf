"""The on-disk dataset format shared by the generator, training and evaluation.

A dataset is a folder::

    DIR/dataset.json        manifest (schema_version, format, image_size, ...)
    DIR/images/<id>.png     the image, 8-bit gray
    DIR/masks/<id>.npz      instance masks, one per dislocation, overlaps kept
    DIR/overlay/<id>.png    all masks coloured in one RGB picture, for viewing (on request)
    DIR/params/<id>.json    every parameter and seed of the sample

Masks are stored bit-packed: ``packed`` is ``np.packbits(masks, axis=-1)``
of the boolean (K, H, W) stack and ``shape`` is (K, H, W); ``np.load`` and
``np.unpackbits`` give them back in a few milliseconds. K may be 0.
Each file is written atomically and ``params/<id>.json`` last, so a sample
counts as finished only when its params file exists: a killed run never
leaves a half-written sample that looks complete.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..errors import DislocError
from .fileio import PathLike, atomic_write_json, atomic_write_npz, atomic_write_png, read_image_pixels, read_json

SCHEMA_VERSION = 1
FORMAT = "disloc-dataset"
MANIFEST = "dataset.json"
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def sample_id(index: int) -> str:
    """The id of sample number ``index`` (``s000042``)."""
    return f"s{index:06d}"


@dataclass(frozen=True)
class SamplePaths:
    image: Path
    masks: Path
    overlay: Path
    params: Path


def sample_paths(root: PathLike, sid: str) -> SamplePaths:
    root = Path(root)
    return SamplePaths(
        image=root / "images" / f"{sid}.png",
        masks=root / "masks" / f"{sid}.npz",
        overlay=root / "overlay" / f"{sid}.png",
        params=root / "params" / f"{sid}.json",
    )


def save_masks(path: PathLike, masks: np.ndarray) -> None:
    """Save a boolean (K, H, W) mask stack bit-packed and compressed, atomically."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (K, H, W), got shape {masks.shape}")
    atomic_write_npz(path, level=1, packed=np.packbits(masks, axis=-1), shape=np.array(masks.shape, np.int64))


def load_masks(path: PathLike) -> np.ndarray:
    """Load a mask stack written by :func:`save_masks` (or sparse, :func:`pack_sparse`) as bool (K, H, W)."""
    try:
        with np.load(path) as z:
            if "boxes" in z.files:
                (h, w), boxes, crops = unpack_sparse(z)
                out = np.zeros((len(crops), h, w), bool)
                for k, ((r0, r1, c0, c1), crop) in enumerate(zip(boxes, crops)):
                    out[k, r0:r1, c0:c1] = crop
                return out
            k, h, w = (int(v) for v in z["shape"])
            packed = z["packed"]
            out = np.unpackbits(packed, axis=-1, count=w).astype(bool).reshape(k, h, w)
    except FileNotFoundError:
        raise DislocError(f"{path}: mask file not found") from None
    except Exception as e:  # zip/format errors from a damaged file
        raise DislocError(f"{path}: not a readable mask file ({e})") from None
    return out


def pack_sparse(shape: tuple[int, int], boxes, crops) -> dict[str, np.ndarray]:
    """Arrays for a sparse mask file: ``shape`` (K, H, W), ``boxes`` (K, 4) as (row0, row1, col0, col1) and
    ``bits``, the crops' pixels packed and concatenated (a huge frame's thin lines cost what they cover)."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    flat = np.concatenate([np.asarray(c, bool).ravel() for c in crops]) if len(crops) else np.zeros(0, bool)
    return {"shape": np.array([len(boxes), *shape], np.int64), "boxes": boxes, "bits": np.packbits(flat)}


def unpack_sparse(z) -> tuple[tuple[int, int], np.ndarray, list[np.ndarray]]:
    """(frame shape (H, W), boxes (K, 4), bool crops) of :func:`pack_sparse` arrays; ValueError when they disagree."""
    k, h, w = (int(v) for v in z["shape"])
    boxes = np.asarray(z["boxes"], np.int64).reshape(-1, 4)
    if len(boxes) != k or (k and (boxes[:, 0].min() < 0 or boxes[:, 2].min() < 0 or boxes[:, 1].max() > h
                                  or boxes[:, 3].max() > w or (boxes[:, 1] < boxes[:, 0]).any()
                                  or (boxes[:, 3] < boxes[:, 2]).any())):
        raise ValueError("mask boxes do not fit the frame")
    sizes = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    bits = np.asarray(z["bits"], np.uint8).ravel()
    if bits.size * 8 < int(sizes.sum()):
        raise ValueError("mask bits are cut short")
    flat = np.unpackbits(bits, count=int(sizes.sum())).astype(bool)
    ends = np.cumsum(sizes)
    crops = [flat[e - n:e].reshape(int(b[1] - b[0]), int(b[3] - b[2])) for b, n, e in zip(boxes, sizes, ends)]
    return (h, w), boxes, crops


def write_sample(root: PathLike, sid: str, image_u8: np.ndarray, masks: np.ndarray,
                 overlay_rgb: Optional[np.ndarray], params: dict) -> None:
    """Write one sample (the overlay only when given); the params file goes last and marks it finished."""
    p = sample_paths(root, sid)
    atomic_write_png(p.image, image_u8, noisy=True)
    save_masks(p.masks, masks)
    if overlay_rgb is not None:
        atomic_write_png(p.overlay, overlay_rgb)
    atomic_write_json(p.params, params, depth=3)  # outer levels indented: readable, and written fast


def is_complete(root: PathLike, sid: str) -> bool:
    p = sample_paths(root, sid)
    return p.params.exists() and p.image.exists() and p.masks.exists()


def list_samples(root: PathLike) -> list[str]:
    """Ids of the finished samples in a dataset folder, sorted."""
    root = Path(root)
    pdir = root / "params"
    if not pdir.is_dir():
        return []
    ids = sorted(f.stem for f in pdir.glob("*.json") if not f.name.startswith("."))
    return [s for s in ids if _ID_RE.match(s) and is_complete(root, s)]


def read_manifest(root: PathLike) -> dict:
    """Read and check ``dataset.json``; a clear error when the folder is not a dataset."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise DislocError(f"{root}: dataset folder not found")
    if not path.exists():
        raise DislocError(f"{root}: not a dataset folder (no {MANIFEST}); create one with 'disloc synth --out {root}'")
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise DislocError(f"{path}: not a Dislocation Studio dataset manifest (format should be '{FORMAT}')")
    if m.get("schema_version", 0) > SCHEMA_VERSION:
        raise DislocError(f"{path}: written by a newer version (schema {m['schema_version']}); update Dislocation Studio")
    return m


def write_manifest(root: PathLike, manifest: dict) -> None:
    m = {"schema_version": SCHEMA_VERSION, "format": FORMAT}
    m.update(manifest)
    atomic_write_json(Path(root) / MANIFEST, m)


def load_image(path: PathLike) -> np.ndarray:
    """Read a gray image as float32 in [0, 1] (8- or 16-bit; RGB made gray)."""
    try:
        img = read_image_pixels(path)
    except FileNotFoundError:
        raise DislocError(f"{path}: image not found") from None
    except Exception as e:
        raise DislocError(f"{path}: not a readable image ({e})") from None
    return to_gray_float(img)


def to_gray_float(img: np.ndarray) -> np.ndarray:
    """Any 8/16-bit/float gray or RGB(A) array -> float32 (H, W) in [0, 1]."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        kind = img.dtype
        img = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        img = img.astype(np.float32)
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(kind), 1.0)
        return np.clip(img / scale, 0, 1).astype(np.float32)
    if img.ndim != 2:
        raise DislocError(f"expected a 2-D gray or RGB image, got shape {img.shape}")
    if img.dtype in (np.uint8, np.uint16):  # in place: a huge frame is not held twice as float
        out = img.astype(np.float32)
        out /= 255.0 if img.dtype == np.uint8 else 65535.0
        return out
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        return ((img.astype(np.float64) - info.min) / (info.max - info.min)).astype(np.float32)
    img = img.astype(np.float32)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    if lo >= 0.0 and hi <= 1.0:
        return img
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float gray in [0, 1] -> uint8 (rounded to nearest, clipped); the inverse of :func:`to_gray_float`."""
    x = np.asarray(image, np.float32) * 255.0
    np.rint(x, out=x)
    return np.clip(x, 0, 255, out=x).astype(np.uint8)


def load_sample(root: PathLike, sid: str) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (H, W) in [0, 1], masks bool (K, H, W)) of one sample."""
    p = sample_paths(root, sid)
    image = load_image(p.image)
    masks = load_masks(p.masks)
    if masks.shape[1:] != image.shape:
        raise DislocError(f"{p.masks}: masks are {masks.shape[1:]} but the image is {image.shape}")
    return image, masks


def iter_samples(root: PathLike) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for sid in list_samples(root):
        img, masks = load_sample(root, sid)
        yield sid, img, masks
