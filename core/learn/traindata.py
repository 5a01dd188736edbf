"""Training and test samples from dataset folders and labelme annotation folders.

A *source* is either a dataset folder (core/io/dataset.py format) or a folder
of labelme JSON files whose images lie next to them (``imagePath``); line
strips become masks at a chosen line width. :class:`SegmentationSet` serves
fixed-size crops with augmentation for training; :func:`load_item` gives
whole frames for testing and evaluation.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DislocError
from ..io import dataset as ds
from ..io.labelme import list_annotations, rasterize, read_labelme
from .augment import augment, fit_to_size
from .metrics import MIN_SPECK_PX

log = logging.getLogger(__name__)
ANNOTATION_CACHE_BYTES = 1 << 30  # decoded annotated frames a training set keeps in memory
_IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class Source:
    """One folder of samples: ``kind`` is "dataset" or "annotations"; ``keys`` are sample ids or JSON paths."""

    path: str
    kind: str
    keys: tuple
    manifest: dict

    def summary(self) -> dict:
        """What a checkpoint header records about this folder."""
        return {"path": self.path, "kind": self.kind, "n_samples": len(self.keys), "manifest": self.manifest}


def _small(manifest: dict, limit: int = 2000) -> dict:
    """The manifest without values too long for a checkpoint header."""
    out = {}
    for k, v in manifest.items():
        text = json.dumps(v, default=str)
        out[k] = v if len(text) <= limit else f"<{len(text)} characters left out>"
    return out


def open_source(path: str | Path, kind: str | None = None) -> Source:
    """Open a dataset folder or a labelme annotation folder (``kind`` None: detect).

    Raises
    ------
    DislocError
        The folder is missing, empty, or holds no finished sample; the
        message says how to make one.
    """
    root = Path(path)
    if not root.is_dir():
        raise DislocError(f"{root}: folder not found")
    if kind is None:
        kind = "dataset" if (root / ds.MANIFEST).exists() else "annotations"
    if kind == "dataset":
        manifest = ds.read_manifest(root)
        ids = ds.list_samples(root)
        if not ids:
            n_img = len(list((root / "images").glob("*.png"))) if (root / "images").is_dir() else 0
            hint = (f"it has {n_img} images but no complete sample (image + masks/<id>.npz + params/<id>.json); "
                    "regenerate it") if n_img else "generate samples with 'disloc synth --out DIR'"
            raise DislocError(f"{root}: no finished samples; {hint}")
        return Source(str(root), "dataset", tuple(ids), _small(manifest))
    if kind == "annotations":
        files = list_annotations(root)
        if not files:
            raise DislocError(f"{root}: neither a dataset folder (no {ds.MANIFEST}) nor a folder of labelme "
                              "JSON files; give a dataset made by 'disloc synth' or annotated frames")
        return Source(str(root), "annotations", tuple(str(f) for f in files), {"labelme_files": len(files)})
    raise ValueError(f"unknown source kind {kind!r}")


def _annotation_image(json_path: Path, image_path: str) -> Path:
    """The image of a labelme file: its ``imagePath``, which must stay inside the annotation's folder tree.

    A path that leads out of that folder (``../../etc/passwd``) is never
    opened; only a file of its name beside the JSON file is used instead.
    """
    if image_path:
        home = json_path.parent.resolve()
        p = (json_path.parent / image_path.replace("\\", "/")).resolve()
        if p.is_relative_to(home) and p.is_file():
            return p
        # labelme on Windows writes backslashes; the file may also sit right next to the JSON.
        alt = json_path.parent / Path(image_path.replace("\\", "/")).name
        if alt.is_file():
            return alt
        if not p.is_relative_to(home):
            raise DislocError(f"{json_path}: imagePath {image_path!r} leads out of the annotation's folder, so it is "
                              "not opened; put the image beside the JSON file and set imagePath to its file name")
        raise DislocError(f"{json_path}: imagePath {image_path!r} not found next to the annotation; "
                          "put the image beside the JSON file")
    for ext in _IMAGE_EXTS:
        p = json_path.with_suffix(ext)
        if p.exists():
            return p
    raise DislocError(f"{json_path}: imagePath is empty and no image {json_path.stem}.png/.tif is beside it")


def load_item(source: Source, key: str, line_width: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """One whole frame: (image float32 (H, W) in [0, 1], masks bool (K, H, W))."""
    if source.kind == "dataset":
        try:
            return ds.load_sample(source.path, key)
        except DislocError as e:
            raise DislocError(f"{e}; remove sample {key} from {source.path} or regenerate the dataset") from None
    jp = Path(key)
    lf = read_labelme(jp)
    image = ds.load_image(_annotation_image(jp, lf.image_path))
    if image.shape != (lf.image_height, lf.image_width):
        raise DislocError(f"{jp}: imageHeight/imageWidth say {lf.image_height}x{lf.image_width} but the image is "
                          f"{image.shape[0]}x{image.shape[1]}; re-save the annotation in labelme")
    return image, rasterize(lf, line_width)


def keep_longest(masks: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Drop specks (< MIN_SPECK_PX px) and keep at most the ``n`` longest masks.

    Length is judged by area (length x line width, the width being about the
    same for all lines of a frame), which needs no skeleton. Returns the kept
    masks in their original order and how many real masks were dropped
    for exceeding ``n``.
    """
    areas = masks.reshape(len(masks), -1).sum(1) if len(masks) else np.zeros(0, np.int64)
    keep = np.nonzero(areas >= MIN_SPECK_PX)[0]
    dropped = 0
    if len(keep) > n:
        dropped = len(keep) - n
        order = np.argsort(-areas[keep], kind="stable")[:n]
        keep = np.sort(keep[order])
    return masks[keep], dropped


class SegmentationSet:
    """Samples of several sources as fixed-size training crops (a torch map-style dataset).

    Item ``i`` is ``(image (1, S, S) float32 in [0, 1], masks (K, S, S) uint8, dropped)``
    where ``dropped`` counts true masks left out because the frame had more
    than ``n_masks``. Randomness depends on (seed, epoch, i) only.
    """

    def __init__(self, sources: Sequence[Source], *, size: int, n_masks: int, line_width: float = 3.0,
                 augment_names: tuple = (), seed: int = 0, train: bool = True,
                 cache_bytes: int = ANNOTATION_CACHE_BYTES, crop_on_lines: float = 0.0) -> None:
        self.sources = list(sources)
        self.items = [(si, k) for si, s in enumerate(self.sources) for k in s.keys]
        self.size, self.n_masks, self.line_width = size, n_masks, line_width
        self.augment_names, self.seed, self.train = tuple(augment_names), seed, train
        self.crop_on_lines = float(crop_on_lines)
        self.epoch = 0
        # Annotated frames are few and drawn again and again (fine-tuning crops each one dozens of times),
        # and decoding the image and rasterising its line strips costs more than cropping and augmenting
        # it: keep them decoded, up to cache_bytes in all. Dataset samples are many and read once an epoch.
        # With loader workers (--workers > 0) each worker holds its own copy for one epoch only.
        self.cache_bytes, self.cached_bytes = int(cache_bytes), 0
        self._cache: dict = {}

    def _load(self, si: int, key: str) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get((si, key))
        if hit is not None:
            return hit
        source = self.sources[si]
        image, masks = load_item(source, key, self.line_width)
        size = image.nbytes + masks.nbytes
        if source.kind == "annotations" and self.cached_bytes + size <= self.cache_bytes:
            image.setflags(write=False)
            masks.setflags(write=False)
            self._cache[(si, key)] = (image, masks)
            self.cached_bytes += size
        return image, masks

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        si, key = self.items[i]
        image, masks = self._load(si, key)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        image, masks = fit_to_size(image, masks, self.size, rng, self.crop_on_lines)
        if rng is not None and self.augment_names:
            image, masks = augment(image, masks, rng, self.augment_names)
        masks, dropped = keep_longest(masks, self.n_masks)
        return image[None].astype(np.float32), masks.astype(np.uint8), dropped


def collate(batch):
    """Stack items; masks padded to the batch's largest count with a ``valid`` flag per mask.

    Returns ``(images (B,1,S,S) float32, masks (B,M,S,S) uint8, valid (B,M) bool, dropped (B,) int64)``
    as torch tensors (M is at least 1 so shapes never collapse).
    """
    import torch

    images = torch.from_numpy(np.stack([b[0] for b in batch]))
    m = max(1, max(len(b[1]) for b in batch))
    s = images.shape[-2:]
    masks = torch.zeros((len(batch), m, *s), dtype=torch.uint8)
    valid = torch.zeros((len(batch), m), dtype=torch.bool)
    for k, b in enumerate(batch):
        if len(b[1]):
            masks[k, : len(b[1])] = torch.from_numpy(b[1])
            valid[k, : len(b[1])] = True
    dropped = torch.tensor([int(b[2]) for b in batch], dtype=torch.int64)
    return images, masks, valid, dropped
