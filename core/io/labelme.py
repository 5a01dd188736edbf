"""labelme JSON annotations: a strict reader, a faithful writer, rasterising.

One ``linestrip`` (or ``line``) shape per dislocation, points (x, y) in image
pixels. Polygons are read as dislocations too (their outline, closed).
Keys we do not know are kept and written back, so files round-trip through
labelme and through us without loss: a file read and written again without
an edit is the same file byte for byte (each value nobody changed is
written as it was read, keys in their order, in the file's own JSON layout:
labelme's indent of 2, its escaping and its final newline or none).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import DislocError
from .fileio import PathLike, atomic_write_text, read_json_text

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
    #: The shape's dict as read and its fields as parsed from it (None for a new shape): what a
    #: writer needs to give back every value nobody changed exactly as it was.
    raw: Optional[dict] = field(default=None, repr=False, compare=False)
    read_as: Optional[dict] = field(default=None, repr=False, compare=False)

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
    raw: Optional[dict] = field(default=None, repr=False, compare=False)
    read_as: Optional[dict] = field(default=None, repr=False, compare=False)
    #: The file's JSON layout: non-ASCII characters escaped or not, a final newline or not.
    ensure_ascii: bool = True
    final_newline: bool = True

    def dislocations(self) -> list[np.ndarray]:
        """Polylines (P, 2) of (x, y) of every dislocation shape, in file order."""
        return [s.polyline() for s in self.shapes if s.is_dislocation]

    @classmethod
    def from_polylines(cls, polylines, image_path: str, height: int, width: int) -> "LabelFile":
        shapes = [Shape(points=np.asarray(p, np.float64).reshape(-1, 2)) for p in polylines]
        return cls(image_path=image_path, image_height=int(height), image_width=int(width), shapes=shapes)

    def to_dict(self) -> dict:
        now = {"version": self.version, "flags": self.flags, "shapes": [_shape_to_dict(s) for s in self.shapes],
               "imagePath": self.image_path, "imageData": self.image_data, "imageHeight": self.image_height,
               "imageWidth": self.image_width}
        return _faithful(now, copy.deepcopy(self.extra), self.raw, self.read_as, always=("shapes",))


def _shape_to_dict(s: Shape) -> dict:
    now = {"label": s.label, "points": [[float(x), float(y)] for x, y in np.asarray(s.points).reshape(-1, 2)],
           "group_id": s.group_id, "shape_type": s.shape_type, "flags": s.flags}
    return _faithful(now, copy.deepcopy(s.extra), s.raw, s.read_as)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def _faithful(now: dict, extra: dict, raw: Optional[dict], read_as: Optional[dict], always=()) -> dict:
    """The dict to write: ``now`` and the unknown keys ``extra``, in the order and with the values as read
    wherever nothing changed since (``raw`` and ``read_as`` from the reader; None for new content)."""
    if raw is None:
        out = copy.deepcopy(extra)
        out.update(copy.deepcopy(now))
        return out
    read_as = read_as or {}

    def changed(key) -> bool:
        if key in always:
            return True
        if key in now:
            return key not in read_as or not _same(now[key], read_as[key])
        return key not in raw or not _same(extra[key], raw[key])

    out = {}
    for key, value in raw.items():
        if key in now or key in extra:
            out[key] = copy.deepcopy(now[key] if key in now else extra[key]) if changed(key) else copy.deepcopy(value)
    for key in list(now) + list(extra):
        if key not in out and (key in extra or changed(key)):
            out[key] = copy.deepcopy(now[key] if key in now else extra[key])
    return out


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
        stype = sd.get("shape_type", "polygon")  # labelme's own default when the key is missing
        if not isinstance(stype, str) or not stype:
            raise fail(f"{where}.shape_type", f"must be a shape type such as linestrip or polygon, got {stype!r}")
        label = sd.get("label", "")
        if not isinstance(label, str):
            raise fail(f"{where}.label", "must be a string")
        gid = sd.get("group_id")
        if gid is not None and (not isinstance(gid, int) or isinstance(gid, bool)):
            raise fail(f"{where}.group_id", "must be an integer or null")
        flags = _flags(sd, f"{where}.flags", fail)
        extra = {k: copy.deepcopy(v) for k, v in sd.items()
                 if k not in ("label", "points", "group_id", "shape_type", "flags")}
        shapes.append(Shape(points=arr, label=label, shape_type=stype, group_id=gid, flags=flags, extra=extra,
                            raw=copy.deepcopy(sd), read_as={"label": label, "points": arr.copy(), "group_id": gid,
                                                            "shape_type": stype, "flags": copy.deepcopy(flags)}))
    image_path = d.get("imagePath")
    if image_path is not None and not isinstance(image_path, str):
        raise fail("imagePath", f"must be a file name or null, got {image_path!r}")
    extra = {k: copy.deepcopy(v) for k, v in d.items() if k not in _TOP_KEYS}
    lf = LabelFile(
        image_path=image_path or "",
        image_height=h,
        image_width=w,
        shapes=shapes,
        version=str(d.get("version") or LABELME_VERSION),
        flags=_flags(d, "flags", fail),
        image_data=d.get("imageData"),
        extra=extra,
    )
    # "shapes" keeps its place with a placeholder: the shapes are always rebuilt, each from its own raw dict
    lf.raw = {k: (None if k == "shapes" else copy.deepcopy(v)) for k, v in d.items()}
    lf.read_as = {"version": lf.version, "flags": copy.deepcopy(lf.flags), "imagePath": lf.image_path,
                  "imageData": lf.image_data, "imageHeight": h, "imageWidth": w}
    return lf


def _flags(d: dict, where: str, fail) -> dict:
    """labelme's ``flags``: an object of names to true/false (missing or null: none)."""
    flags = d.get("flags")
    if flags is None:
        return {}
    if not isinstance(flags, dict):
        raise fail(where, f"must be an object of flag names to true or false, got {type(flags).__name__}")
    return copy.deepcopy(flags)


def read_labelme(path: PathLike) -> LabelFile:
    """Read a labelme JSON file strictly (errors like ``shapes[3].points: ...``)."""
    d, text = read_json_text(path)
    lf = parse_labelme(d, source=str(path))
    lf.ensure_ascii, lf.final_newline = text.isascii(), text.endswith("\n")
    return lf


def write_labelme(path: PathLike, lf: LabelFile) -> None:
    """Write a labelme file atomically; it opens in labelme."""
    text = json.dumps(lf.to_dict(), indent=2, ensure_ascii=lf.ensure_ascii)
    atomic_write_text(path, text + ("\n" if lf.final_newline else ""))


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
