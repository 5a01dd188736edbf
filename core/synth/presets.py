"""Presets: parameter ranges from which concrete :class:`SynthParams` are drawn.

A preset file (``resources/presets/<name>.json`` or any path)::

    {"schema_version": 1, "format": "disloc-synth-preset", "name": "m2",
     "description": "...", "size": 512,
     "ranges": {"lambda1": [10, 100], "s1": 1.0, "n_dislocations": [1, 8],
                "line_profile": {"choices": ["gaussian", "realistic"]}, ...}}

Each entry of ``ranges`` is a fixed value, ``[min, max]`` (uniform; whole
numbers for integer parameters, both ends included) or ``{"choices": [...]}``
(one picked uniformly; repeat a value to weight it). Keys are parameter names
of :data:`~core.synth.params.PARAM_SPECS` plus the preset-only keys of
:data:`PRESET_SPECS` (how many pileups, slip directions, where pileups sit).
Pixel lengths refer to an image of ``size`` px and are scaled when samples of
another size are drawn.
"""
from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_json, read_json
from .params import (
    IMAGE_KEYS, MAX_DISLOCATIONS, PARAM_SPECS, PILEUP_KEYS, RENDER_KEYS, SCENERY_KEYS, ParamSpec, PileupParams,
    SynthParams, check_value,
)

FORMAT = "disloc-synth-preset"
SCHEMA_VERSION = 1

#: Keys that only presets have: they shape the geometry drawn per image.
PRESET_SPECS: dict[str, ParamSpec] = {
    s.name: s
    for s in [
        ParamSpec("n_pileups", "int", 1, MAX_DISLOCATIONS, doc="pileups per image"),
        ParamSpec("n_slip_directions", "int", 1, 6, doc="distinct slip directions per image"),
        ParamSpec("center_x", "float", -0.5, 1.5, doc="pileup centre x as a fraction of the image width"),
        ParamSpec("center_y", "float", -0.5, 1.5, doc="pileup centre y as a fraction of the image height"),
        ParamSpec("angle_jitter", "float", 0.0, 90.0, unit="deg", doc="spread of pileup angles around a slip direction"),
        ParamSpec("angle_flip", "float", 0.0, 1.0, doc="probability that a pileup advances the opposite way"),
    ]
}
_PRESET_DEFAULTS = {"n_pileups": [1, 3], "n_slip_directions": [1, 2], "center_x": [0.3, 0.7],
                    "center_y": [0.3, 0.7], "angle_jitter": 0.0, "angle_flip": 0.5}
# Derived from center_x/center_y, so a preset may not set them.
_NOT_IN_PRESETS = ("size", "p0_x", "p0_y")
_TOP_KEYS = ("schema_version", "format", "name", "description", "size", "ranges", "fitted_from", "observed")


def _spec(name: str) -> Optional[ParamSpec]:
    return PRESET_SPECS.get(name) or PARAM_SPECS.get(name)


def _check(name: str, value: Any, where: str) -> Any:
    spec = _spec(name)
    if name in PRESET_SPECS:
        label = f"{where}{name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DislocError(f"{label}: must be a number, got {value!r}")
        if spec.kind == "int" and float(value) != int(value):
            raise DislocError(f"{label}: must be a whole number, got {value!r}")
        if not spec.lo <= value <= spec.hi:
            raise DislocError(f"{label}: {value!r} is outside the allowed range [{spec.lo:g}, {spec.hi:g}]")
        return int(value) if spec.kind == "int" else float(value)
    return check_value(name, value, where)


def _normalise_range(name: str, value: Any, where: str) -> Any:
    """Check one ``ranges`` entry; return a fixed value, (lo, hi) or {'choices': (...)}."""
    spec = _spec(name)
    label = f"{where}{name}"
    if spec is None or name in _NOT_IN_PRESETS:
        known = [k for k in list(PARAM_SPECS) + list(PRESET_SPECS) if k not in _NOT_IN_PRESETS]
        raise DislocError(f"{label}: unknown preset key (known: {', '.join(known)})")
    if isinstance(value, Mapping):
        if set(value) != {"choices"} or not isinstance(value["choices"], (list, tuple)) or not value["choices"]:
            raise DislocError(f"{label}: an object entry must be {{\"choices\": [non-empty list]}}")
        return {"choices": tuple(_check(name, v, where) for v in value["choices"])}
    if isinstance(value, (list, tuple)):
        if spec.kind in ("choice", "str"):
            if not value:
                raise DislocError(f"{label}: empty list of choices")
            return {"choices": tuple(_check(name, v, where) for v in value)}
        if len(value) != 2:
            raise DislocError(f"{label}: a range must be [min, max], got {list(value)!r}")
        lo, hi = (_check(name, v, where) for v in value)
        if lo > hi:
            raise DislocError(f"{label}: range [min, max] has min {lo!r} > max {hi!r}")
        return (lo, hi)
    return _check(name, value, where)


@dataclass(frozen=True)
class Preset:
    """Ranges per parameter (see the module docstring for the entry forms)."""

    name: str
    ranges: Mapping[str, Any]
    size: int = 512
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"preset {self.name!r}: "
        norm = {k: _normalise_range(k, v, where) for k, v in dict(self.ranges).items()}
        object.__setattr__(self, "ranges", norm)
        object.__setattr__(self, "size", check_value("size", self.size, where))

    def range_of(self, key: str) -> Any:
        """The entry for ``key`` (preset-only keys fall back to built-in defaults)."""
        if key in self.ranges:
            return self.ranges[key]
        if key in _PRESET_DEFAULTS:
            return _normalise_range(key, _PRESET_DEFAULTS[key], "")
        return None

    def with_range(self, key: str, value: Any) -> "Preset":
        """A copy with one entry set (validated); for the GUI designer."""
        r = dict(self.ranges)
        r[key] = value
        return Preset(self.name, r, self.size, self.description, self.meta)

    def to_dict(self) -> dict:
        def plain(v):
            if isinstance(v, tuple):
                return list(v)
            if isinstance(v, Mapping):
                return {"choices": list(v["choices"])}
            return v

        d = {"schema_version": SCHEMA_VERSION, "format": FORMAT, "name": self.name,
             "description": self.description, "size": self.size,
             "ranges": {k: plain(v) for k, v in self.ranges.items()}}
        d.update(dict(self.meta))
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "preset") -> "Preset":
        if not isinstance(d, Mapping):
            raise DislocError(f"{source}: a preset must be a JSON object")
        for k in d:
            if k not in _TOP_KEYS:
                raise DislocError(f"{source}: {k}: unknown key (known: {', '.join(_TOP_KEYS)})")
        if d.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise DislocError(f"{source}: schema_version {d['schema_version']} is newer than this program")
        if "format" in d and d["format"] != FORMAT:
            raise DislocError(f"{source}: format: should be '{FORMAT}', got {d['format']!r}")
        ranges = d.get("ranges")
        if not isinstance(ranges, Mapping):
            raise DislocError(f"{source}: ranges: missing or not an object")
        meta = {k: d[k] for k in ("fitted_from", "observed") if k in d}
        try:
            return cls(name=str(d.get("name") or Path(source).stem), ranges=ranges, size=d.get("size", 512),
                       description=str(d.get("description", "")), meta=meta)
        except DislocError as e:
            raise DislocError(f"{source}: {e}") from None


def presets_dir() -> Path:
    """The folder of built-in presets (``resources/presets``)."""
    try:
        p = Path(str(importlib.resources.files("resources").joinpath("presets")))
        if p.is_dir():
            return p
    except (ModuleNotFoundError, TypeError):  # not installed as a package: use the source tree
        pass
    return Path(__file__).resolve().parents[2] / "resources" / "presets"


def list_presets() -> list[str]:
    """Names of the built-in presets."""
    d = presets_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def load_preset(name_or_path: Union[str, PathLike, Preset]) -> Preset:
    """A built-in preset by name (``"m2"``) or a preset JSON file by path."""
    if isinstance(name_or_path, Preset):
        return name_or_path
    s = str(name_or_path)
    path = Path(s)
    if not (s.endswith(".json") or path.exists() or "/" in s or "\\" in s):
        path = presets_dir() / f"{s}.json"
        if not path.exists():
            raise DislocError(f"preset '{s}' not found (built-in: {', '.join(list_presets()) or 'none'}; "
                              "or give a path to a preset .json)")
    return Preset.from_dict(read_json(path), source=str(path))


def save_preset(preset: Preset, path: PathLike) -> None:
    """Write a preset JSON atomically."""
    atomic_write_json(path, preset.to_dict())


def _draw(entry: Any, spec: ParamSpec, u: float) -> Any:
    """Map one uniform number ``u`` in [0, 1) to a value of ``entry``."""
    if isinstance(entry, Mapping):
        c = entry["choices"]
        return c[min(int(u * len(c)), len(c) - 1)]
    if isinstance(entry, tuple):
        lo, hi = entry
        if spec.kind == "int":
            return int(min(lo + math.floor(u * (hi - lo + 1)), hi))
        return float(lo + u * (hi - lo))
    return entry


def sample_params(preset: Union[Preset, str, PathLike], seed: int, size: Optional[int] = None) -> SynthParams:
    """Draw concrete :class:`SynthParams` from a preset.

    Parameters
    ----------
    preset : Preset, name or path
    seed : int
        The same seed and preset always give the same parameters. Each key
        consumes one random number whether it is a range or fixed, and each
        pileup has its own stream, so editing one range leaves the others'
        draws unchanged.
    size : int, optional
        Image size in px (default: the preset's). Pixel lengths are scaled by
        ``size / preset.size``.
    """
    preset = load_preset(preset)
    size = int(size or preset.size)
    factor = size / preset.size
    ss = np.random.SeedSequence([int(seed), 0x9A7A])
    rng = np.random.default_rng(ss.spawn(1)[0])
    # Defaults for keys a preset leaves out are the dataclass defaults (made for 512 px).
    img_defaults = SynthParams.__dataclass_fields__
    pile_defaults = PileupParams.__dataclass_fields__

    def value(key: str, u: float, default: Any) -> Any:
        entry = preset.range_of(key)
        spec = _spec(key)
        if entry is None:
            v = default
            return v * size / 512.0 if spec.length else v
        v = _draw(entry, spec, u)
        return v * factor if spec.length else v

    img = {}
    for k in IMAGE_KEYS:
        if k in SCENERY_KEYS or k in RENDER_KEYS:
            continue
        u = rng.random()
        if k != "size":
            img[k] = value(k, u, img_defaults[k].default)
    # scenery keys came later and have a stream of their own, so older presets draw what they drew before;
    # the render keys came later still and are drawn after them
    srng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CE7]))
    for k in SCENERY_KEYS + RENDER_KEYS:
        img[k] = value(k, srng.random(), img_defaults[k].default)
    height = max(16, int(round(size * img["aspect"])))
    n_pile = value("n_pileups", rng.random(), 1)
    n_dirs = min(value("n_slip_directions", rng.random(), 1), n_pile)
    dir_angles = [value("angle", rng.random(), 0.0) for _ in range(n_dirs)]
    jitter = value("angle_jitter", rng.random(), 0.0)
    flip = value("angle_flip", rng.random(), 0.5)
    budget = min(img["max_dislocations"], MAX_DISLOCATIONS)
    pileups = []
    for i, child in enumerate(ss.spawn(n_pile + 1)[1:]):
        prng = np.random.default_rng(child)
        angle = dir_angles[int(prng.integers(n_dirs))] + jitter * (2 * prng.random() - 1)
        if prng.random() < flip:
            angle += 180.0
        angle = (angle + 180.0) % 360.0 - 180.0
        vals = {"angle": angle}
        for k in PILEUP_KEYS:
            u = prng.random()
            if k not in ("angle", "p0_x", "p0_y"):
                vals[k] = value(k, u, pile_defaults[k].default)
        cx = value("center_x", prng.random(), 0.5) * size
        cy = value("center_y", prng.random(), 0.5) * height
        n = min(vals["n_dislocations"], budget)
        if n <= 0:
            break
        budget -= n
        vals["n_dislocations"] = n
        vals["p0_x"], vals["p0_y"] = _start_point(cx, cy, vals)
        pileups.append(PileupParams(**vals))
    return SynthParams(size=size, pileups=tuple(pileups), **img)


def _start_point(cx: float, cy: float, v: dict) -> tuple[float, float]:
    """p0 such that the pileup's middle sits at (cx, cy)."""
    n = v["n_dislocations"]
    extent = sum(v["spacing"] * v["spacing_ratio"] ** j for j in range(n - 1))
    a = math.radians(v["angle"])
    t = (math.cos(a), math.sin(a))
    nrm = (-t[1], t[0])
    half_dd = v["slip_width"] / 2
    # the chord tilt moves the middle of each line along the trace too
    shift = extent / 2 + half_dd * math.tan(math.radians(v["inclination"]))
    return cx - t[0] * shift - nrm[0] * half_dd, cy - t[1] * shift - nrm[1] * half_dd
