"""labelme JSON annotations: a strict reader, a faithful writer, rasterising.

One ``linestrip`` (or ``line``) shape per dislocation, points (x, y) in image
pixels. Polygons are read as dislocations too (their outline, closed).
Keys we do not know are kept and written back, so files round-trip through
labelme and through us without loss.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import DislocError
from .fileio import PathLike, atomic_write_json, read_json

LABELME_VERSION = "5.5.0"
LINE_SHAPES = ("linestrip", "line", "polygon")
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_SHAPE_KEYS = ("label", "points", "group_id", "shape_type", "flags", "description", "mask")


@dataclass
class Shape:
    """One labelme shape; ``points`` is float64 (P, 2) of (x, y) pixels."""

    points: np.ndarray
    label: str = "dislocation"
    shape_type: str = "linestrip"
    group_id: Optional[int] = None
    flags: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def is_dislocation(self) -> bool:
        return self.shape_type in LINE_SHAPES and len(self.points) >= 2

    def polyline(self) -> np.ndarray:
        """The points as an open polyline (polygons closed by repeating the first)."""
        if self.shape_type == "polygon" and len(self.points) >= 3:
            return np.vstack([self.points, self.points[:1]])
        return self.points


@dataclass
class LabelFile:
    """The content of one labelme JSON file."""

    image_path: str
    image_height: int
    image_width: int
    shapes: list[Shape] = field(default_factory=list)
    version: str = LABELME_VERSION
    flags: dict = field(default_factory=dict)
    image_data: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def dislocations(self) -> list[np.ndarray]:
        """Polylines (P, 2) of (x, y) of every dislocation shape, in file order."""
        return [s.polyline() for s in self.shapes if s.is_dislocation]

    @classmethod
    def from_polylines(cls, polylines, image_path: str, height: int, width: int) -> "LabelFile":
        shapes = [Shape(points=np.asarray(p, np.float64).reshape(-1, 2)) for p in polylines]
        return cls(image_path=image_path, image_height=int(height), image_width=int(width), shapes=shapes)

    def to_dict(self) -> dict:
        d: dict[str, Any] = copy.deepcopy(self.extra)
        d.update(
            {
                "version": self.version,
                "flags": self.flags,
                "shapes": [_shape_to_dict(s) for s in self.shapes],
                "imagePath": self.image_path,
                "imageData": self.image_data,
                "imageHeight": self.image_height,
                "imageWidth": self.image_width,
            }
        )
        return d


def _shape_to_dict(s: Shape) -> dict:
    d = copy.deepcopy(s.extra)
    d.update(
        {
            "label": s.label,
            "points": [[float(x), float(y)] for x, y in np.asarray(s.points).reshape(-1, 2)],
            "group_id": s.group_id,
            "shape_type": s.shape_type,
            "flags": s.flags,
        }
    )
    return d


def parse_labelme(d: Any, source: str = "<labelme>") -> LabelFile:
    """Check and convert a labelme dict; errors name the file and the field."""

    def fail(where: str, what: str) -> DislocError:
        return DislocError(f"{source}: {where}: {what}")

    if not isinstance(d, dict):
        raise fail("top level", "must be a JSON object")
    for key in ("shapes", "imageHeight", "imageWidth"):
        if key not in d:
            raise fail(key, "missing (is this a labelme annotation file?)")
    h, w = d["imageHeight"], d["imageWidth"]
    for key, v in (("imageHeight", h), ("imageWidth", w)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise fail(key, f"must be a positive integer, got {v!r}")
    if not isinstance(d["shapes"], list):
        raise fail("shapes", "must be a list")
    shapes = []
    for i, sd in enumerate(d["shapes"]):
        where = f"shapes[{i}]"
        if not isinstance(sd, dict):
            raise fail(where, "must be an object")
        pts = sd.get("points")
        try:
            arr = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError):
            raise fail(f"{where}.points", "must be a list of [x, y] number pairs") from None
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)):
            raise fail(f"{where}.points", "must be a list of [x, y] number pairs")
        stype = sd.get("shape_type") or "polygon"  # labelme's own default
        if not isinstance(stype, str):
            raise fail(f"{where}.shape_type", "must be a string")
        label = sd.get("label", "")
        if not isinstance(label, str):
            raise fail(f"{where}.label", "must be a string")
        gid = sd.get("group_id")
        if gid is not None and (not isinstance(gid, int) or isinstance(gid, bool)):
            raise fail(f"{where}.group_id", "must be an integer or null")
        flags = sd.get("flags") or {}
        extra = {k: v for k, v in sd.items() if k not in ("label", "points", "group_id", "shape_type", "flags")}
        shapes.append(Shape(points=arr, label=label, shape_type=stype, group_id=gid, flags=flags, extra=extra))
    extra = {k: v for k, v in d.items() if k not in _TOP_KEYS}
    return LabelFile(
        image_path=str(d.get("imagePath") or ""),
        image_height=h,
        image_width=w,
        shapes=shapes,
        version=str(d.get("version") or LABELME_VERSION),
        flags=d.get("flags") or {},
        image_data=d.get("imageData"),
        extra=extra,
    )


def read_labelme(path: PathLike) -> LabelFile:
    """Read a labelme JSON file strictly (errors like ``shapes[3].points: ...``)."""
    return parse_labelme(read_json(path), source=str(path))


def write_labelme(path: PathLike, lf: LabelFile) -> None:
    """Write a labelme file atomically; it opens in labelme."""
    atomic_write_json(path, lf.to_dict())


def list_annotations(folder: PathLike) -> list[Path]:
    """labelme JSON files in a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DislocError(f"{folder}: annotation folder not found")
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def rasterize_polyline(points: np.ndarray, shape: tuple[int, int], width: float = 3.0) -> np.ndarray:
    """Draw a polyline (P, 2) of (x, y) into a bool mask of ``shape`` with a line ``width`` in px.

    A pixel is in the mask when its centre lies within ``width / 2`` of the
    polyline (a distance test, so the width is exact and sub-pixel points
    are honoured).
    """
    h, w = shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    mask = np.zeros((h, w), bool)
    r = max(width / 2.0, 0.5)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        xmin = int(max(0, np.floor(min(x0, x1) - r - 1)))
        xmax = int(min(w - 1, np.ceil(max(x0, x1) + r + 1)))
        ymin = int(max(0, np.floor(min(y0, y1) - r - 1)))
        ymax = int(min(h - 1, np.ceil(max(y0, y1) + r + 1)))
        if xmin > xmax or ymin > ymax:
            continue
        yy, xx = np.mgrid[ymin : ymax + 1, xmin : xmax + 1].astype(np.float64)
        dx, dy = x1 - x0, y1 - y0
        L2 = dx * dx + dy * dy
        t = np.zeros_like(xx) if L2 == 0 else np.clip(((xx - x0) * dx + (yy - y0) * dy) / L2, 0, 1)
        d2 = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2
        mask[ymin : ymax + 1, xmin : xmax + 1] |= d2 <= r * r
    return mask


def rasterize(lf: LabelFile, width: float = 3.0) -> np.ndarray:
    """One bool mask (K, H, W) per dislocation of a label file."""
    polys = lf.dislocations()
    shape = (lf.image_height, lf.image_width)
    if not polys:
        return np.zeros((0, *shape), bool)
    return np.stack([rasterize_polyline(p, shape, width) for p in polys])
