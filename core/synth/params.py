"""Concrete generator parameters: :class:`SynthParams` and :class:`PileupParams`.

A :class:`SynthParams` holds one value per parameter (no ranges); together
with a seed it fixes a sample bit for bit. Ranges live in presets
(:mod:`core.synth.presets`). Every parameter is described once in
:data:`PARAM_SPECS` (type, allowed bounds, unit, meaning), which validation,
presets, the CLI and the GUI designer all read.

Lengths are in pixels of the generated image, angles in degrees measured
from the image x axis towards +y (image rows go down), contrasts are
fractions of the local background intensity.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..errors import DislocError

SCHEMA_VERSION = 1
MAX_DISLOCATIONS = 20  # the segmentation model predicts 20 masks (paper §4)


@dataclass(frozen=True)
class ParamSpec:
    """How one parameter may be set.

    ``kind`` is ``"float"``, ``"int"``, ``"choice"`` or ``"str"``; ``lo``/``hi``
    are the allowed bounds (wider than any preset: presets pick sub-ranges);
    ``level`` is ``"image"`` or ``"pileup"``; ``length`` marks pixel lengths
    that scale with the image size when a preset made for one size is used at
    another. ``label`` is a plain name for people who never read the paper
    (the designer's sliders; ``doc`` explains it in a line) and ``symbol``
    the paper's symbol, when it has one.
    """

    name: str
    kind: str
    lo: float = 0.0
    hi: float = 0.0
    choices: tuple = ()
    level: str = "image"
    unit: str = ""
    doc: str = ""
    length: bool = False
    label: str = ""
    symbol: str = ""


def _f(name, lo, hi, unit, doc, level="image", length=False):
    return ParamSpec(name, "float", lo, hi, level=level, unit=unit, doc=doc, length=length)


def _i(name, lo, hi, unit, doc, level="image"):
    return ParamSpec(name, "int", lo, hi, level=level, unit=unit, doc=doc)


def _c(name, choices, doc, level="image"):
    return ParamSpec(name, "choice", choices=tuple(choices), level=level, doc=doc)


_IMAGE_SPECS = [
    _i("size", 16, 4096, "px", "image height and width"),
    _c("background", ("perlin", "patches"), "Perlin noise (§1a) or blended real background crops (§1b)"),
    _c("perlin_backend", ("fast", "paper"), "vectorised gradient noise, or the paper's noise.pnoise2 point by point"),
    _f("lambda1", 2.0, 1024.0, "px", "main wavelength of the first Perlin field (Table 1 O1: 10-100)"),
    _f("lambda2", 2.0, 1024.0, "px", "main wavelength of the second Perlin field (Table 1 O2: 10-100)"),
    _f("w_perlin", 0.0, 2.0, "", "weight of the second Perlin field (Table 1: 0.2-0.4)"),
    _f("w_white", 0.0, 2.0, "", "weight ww1 of the first white noise (Table 1: 0.5-0.7)"),
    _f("s1", 0.0, 10.0, "px", "sigma of the first Gaussian filter (Table 1: 1.0)"),
    _f("r_noise", 0.0, 2.0, "", "second white noise weight as a fraction of std(P4) (Table 1: 0.2-0.4)"),
    _f("s2", 0.0, 10.0, "px", "sigma of the second Gaussian filter (Table 1: 0.6-0.8)"),
    ParamSpec("patch_dir", "str", doc="folder of background crops (PNG/TIFF) for background='patches'"),
    _f("bg_contrast", 0.05, 1.0, "", "background contrast kept around its mean (1 = the paper's full range)"),
    _f("black_level", 0.0, 0.5, "", "gray value the background's 0 is lifted to, so dark lines stay darker"),
    _c("line_profile", ("gaussian", "realistic"), "Gaussian line, or dark core with bright fringes and noise"),
    _f("fringe", 0.0, 0.5, "", "bright fringe strength relative to the core (realistic profile)"),
    _f("line_noise", 0.0, 0.5, "", "per-pixel relative noise of the line darkening (realistic profile)"),
    _f("contrast_modulation", 0.0, 0.5, "", "smooth relative contrast variation along a line (realistic profile)"),
    _f("blur", 0.0, 3.0, "px", "sigma of a Gaussian blur of the drawn lines (convolved into their profile)"),
    _i("max_dislocations", 1, MAX_DISLOCATIONS, "", "cap on dislocations per image"),
    _f("min_visible", 0.0, 200.0, "px", "dislocations with a shorter centre line inside the image are dropped"),
    ParamSpec("shape_dir", "str", doc="folder of labelme files whose line strips give support points"),
]

# What real frames show besides dislocations (core/synth/scenery.py). All off by default, so presets
# that leave them out (m2) draw exactly what they drew before these existed.
_SCENERY_SPECS = [
    _f("aspect", 0.25, 1.0, "", "image height as a fraction of its width (1: square)"),
    _f("illumination", 0.0, 2.0, "", "brightness gradient across the image (relative change edge to edge, up to)"),
    _f("vignetting", 0.0, 0.9, "", "darkening towards the corners (relative, up to)"),
    _i("bend_contours", 0, 12, "", "broad curved dark bands (bend contours)"),
    _f("bend_contrast", 0.0, 0.9, "", "darkening at a bend contour's centre (relative, up to)"),
    _f("bend_width", 2.0, 1024.0, "px", "bend contour width (full width at half maximum, up to)", length=True),
    _f("band_contrast", 0.0, 0.6, "", "slipped band between a pileup's traces brighter or darker (relative, up to)"),
    _i("extra_traces", 0, 64, "", "straight lines that are no dislocation: other slip traces, twin and grain boundaries"),
    _f("extra_trace_contrast", -0.5, 0.9, "", "darkening of those lines (up to; negative: light lines)"),
    _f("extra_trace_width", 0.5, 12.0, "px", "width of those lines (full width at half maximum, up to)"),
    _f("double_traces", 0.0, 1.0, "", "probability that a straight line comes as a close parallel pair"),
    _i("fault_fringes", 0, 12, "", "stacking-fault or twin fringes: strips of alternating dark and bright fringes"),
    _f("fringe_contrast", 0.0, 0.6, "", "fringe amplitude (relative, up to)"),
    _f("fringe_period", 2.0, 40.0, "px", "fringe period"),
    _f("fault_width", 4.0, 1024.0, "px", "width of a fringe strip (up to)", length=True),
    _i("specks", 0, 2000, "", "small round specks: dirt, particles, small loops"),
    _f("speck_contrast", -0.9, 0.9, "", "speck darkening (up to; negative: bright specks)"),
    _f("speck_size", 0.5, 20.0, "px", "speck diameter (full width at half maximum, up to)"),
    _f("final_blur", 0.0, 4.0, "px", "Gaussian blur of the whole finished image (sigma); masks unchanged"),
    _f("grain_noise", 0.0, 0.3, "", "Gaussian noise on the finished image (std, gray values 0-1)"),
    _i("jpeg_quality", 0, 100, "", "JPEG compression of the finished image, as in compressed video (0: none)"),
    _f("modulation_period", 3.0, 200.0, "px", "length over which a line's contrast varies (beaded lines: short)"),
    _i("striations", 0, 1000, "", "short faint straight streaks in the background (surface steps, thin slip lines)"),
    _f("striation_contrast", 0.0, 0.3, "", "darkening of those streaks (up to)"),
]

# How the image is computed, not what it shows. Drawn last (core.synth.presets) and written to a sample's
# JSON only when not the default, so records of exact renders read as they did before the key existed.
_RENDER_SPECS = [
    _c("renderer", ("exact", "fast"),
       "exact: every step as earlier versions computed it, bit for bit; fast: the same kind of image in about "
       "60 % of the time (single-precision Gaussians cut at 3 sigma, 16-bit white noise, one background noise "
       "of the same strength and grain, the same masks)"),
]

_PILEUP_SPECS = [
    _f("angle", -360.0, 360.0, "deg", "direction of the slip traces; the pileup advances along it", "pileup"),
    _f("slip_width", 2.0, 8192.0, "px", "distance between the two slip traces (Δd)", "pileup", True),
    _f("p0_x", -8192.0, 8192.0, "px", "x of the first dislocation's start on the first slip trace", "pileup", True),
    _f("p0_y", -8192.0, 8192.0, "px", "y of the first dislocation's start on the first slip trace", "pileup", True),
    _i("n_dislocations", 1, MAX_DISLOCATIONS, "", "dislocations in the pileup", "pileup"),
    _f("spacing", 0.5, 8192.0, "px", "offset along the trace from the first to the second dislocation", "pileup", True),
    _f("spacing_ratio", 0.25, 4.0, "", "each next offset is the previous one times this", "pileup"),
    _f("spacing_jitter", 0.0, 0.9, "", "relative random variation of each offset", "pileup"),
    _f("inclination", -80.0, 80.0, "deg", "tilt of a dislocation's chord from the trace normal", "pileup"),
    _f("curvature", -1.9, 1.9, "", "average curvature times chord length (0 straight, ±2 half circle)", "pileup"),
    _f("curvature_jitter", 0.0, 2.0, "", "per-dislocation variation of the curvature (std)", "pileup"),
    _f("shape_jitter", 0.0, 0.5, "", "support point variation (std) as a fraction of the slip width", "pileup"),
    _i("n_support", 2, 16, "", "support points of a random dislocation spline", "pileup"),
    _c("shape_source", ("random", "labelme"), "random support points, or line strips from shape_dir", "pileup"),
    _f("contrast", 0.01, 0.95, "", "relative darkening at a dislocation's core", "pileup"),
    _f("contrast_jitter", 0.0, 0.5, "", "relative per-dislocation variation of the contrast", "pileup"),
    _f("width", 0.8, 20.0, "px", "line width (full width at half maximum)", "pileup"),
    _f("width_jitter", 0.0, 0.9, "", "relative per-dislocation variation of the width", "pileup"),
    _f("trace_contrast", -0.5, 0.5, "", "slip trace darkening (negative: a light trace)", "pileup"),
    _f("trace_width", 0.5, 10.0, "px", "slip trace width (full width at half maximum)", "pileup"),
]

# Plain names (what a slider does, in a microscopist's words) and the paper's symbols (method §1, Table 1).
_PLAIN = {
    "size": ("image width",), "background": ("background from",), "perlin_backend": ("noise method",),
    "lambda1": ("blotch size", "λ1"), "lambda2": ("fine blotch size", "λ2"), "w_perlin": ("fine blotch strength", "w_P"),
    "w_white": ("grain", "w_w1"), "s1": ("grain smoothing", "σ1"), "r_noise": ("grain after smoothing", "r"),
    "s2": ("final smoothing", "σ2"), "patch_dir": ("patch folder",), "bg_contrast": ("background contrast",),
    "black_level": ("darkest grey",), "line_profile": ("line look",), "fringe": ("bright line edges",),
    "line_noise": ("line graininess",), "contrast_modulation": ("beading",), "blur": ("line blur", "σ_b"),
    "max_dislocations": ("most dislocations per image",), "min_visible": ("shortest line kept",),
    "shape_dir": ("shape folder",), "aspect": ("height / width",), "illumination": ("brightness gradient",),
    "vignetting": ("dark corners",), "bend_contours": ("bend contours",), "bend_contrast": ("bend contour darkness",),
    "bend_width": ("bend contour width",), "band_contrast": ("slipped band contrast",),
    "extra_traces": ("straight lines",), "extra_trace_contrast": ("straight line darkness",),
    "extra_trace_width": ("straight line width",), "double_traces": ("doubled lines (chance)",),
    "fault_fringes": ("fringe strips",), "fringe_contrast": ("fringe strength",), "fringe_period": ("fringe spacing",),
    "fault_width": ("fringe strip width",), "specks": ("specks",), "speck_contrast": ("speck darkness",),
    "speck_size": ("speck size",), "final_blur": ("image blur",), "grain_noise": ("camera noise",),
    "jpeg_quality": ("JPEG quality (0: none)",), "modulation_period": ("bead length",),
    "striations": ("faint streaks",), "striation_contrast": ("streak darkness",), "renderer": ("rendering",),
    "angle": ("slip direction", "θ"), "slip_width": ("slip band width", "Δd"), "p0_x": ("start x", "p0"),
    "p0_y": ("start y", "p0"), "n_dislocations": ("dislocations in the pileup", "n"),
    "spacing": ("first spacing", "d1"), "spacing_ratio": ("spacing growth", "q"),
    "spacing_jitter": ("spacing randomness",), "inclination": ("tilt", "φ"), "curvature": ("bowing", "κL"),
    "curvature_jitter": ("bowing randomness",), "shape_jitter": ("waviness",), "n_support": ("bends per line",),
    "shape_source": ("line shapes from",), "contrast": ("line darkness", "c"),
    "contrast_jitter": ("darkness randomness",), "width": ("line width", "w"), "width_jitter": ("width randomness",),
    "trace_contrast": ("slip trace darkness",), "trace_width": ("slip trace width",),
}

#: Every parameter of :class:`SynthParams` and :class:`PileupParams`, by name.
PARAM_SPECS: dict[str, ParamSpec] = {
    s.name: dataclasses.replace(s, label=_PLAIN.get(s.name, (s.name.replace("_", " "),))[0],
                                symbol=(_PLAIN.get(s.name, ()) + ("", ""))[1])
    for s in _IMAGE_SPECS + _SCENERY_SPECS + _RENDER_SPECS + _PILEUP_SPECS}
#: Scenery keys are drawn from their own random stream (core.synth.presets), after the others.
SCENERY_KEYS = tuple(s.name for s in _SCENERY_SPECS)
#: How the image is computed; drawn after the scenery keys, left out of :meth:`SynthParams.to_dict` at their default.
RENDER_KEYS = tuple(s.name for s in _RENDER_SPECS)
IMAGE_KEYS = tuple(s.name for s in _IMAGE_SPECS) + SCENERY_KEYS + RENDER_KEYS
PILEUP_KEYS = tuple(s.name for s in _PILEUP_SPECS)


def check_value(name: str, value: Any, where: str = "") -> Any:
    """Check one value against its spec; return it normalised (int/float/str).

    Raises
    ------
    DislocError
        Naming ``where`` + the key when the value has the wrong type or is
        outside the allowed bounds.
    """
    spec = PARAM_SPECS.get(name)
    label = f"{where}{name}"
    if spec is None:
        raise DislocError(f"{label}: unknown parameter (known: {', '.join(PARAM_SPECS)})")
    if spec.kind == "str":
        if not isinstance(value, str):
            raise DislocError(f"{label}: must be a string, got {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise DislocError(f"{label}: {value!r} is not one of {', '.join(map(repr, spec.choices))}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DislocError(f"{label}: must be a number, got {value!r}")
    if spec.kind == "int":
        if float(value) != int(value):
            raise DislocError(f"{label}: must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise DislocError(f"{label}: must be finite, got {value!r}")
    if not spec.lo <= value <= spec.hi:
        raise DislocError(f"{label}: {value!r} is outside the allowed range [{spec.lo:g}, {spec.hi:g}] {spec.unit}".rstrip())
    return value


def _validate(obj, keys: tuple, where: str) -> None:
    for k in keys:
        v = check_value(k, getattr(obj, k), where)
        object.__setattr__(obj, k, v)  # frozen: normalise int-valued floats etc. once, here


@dataclass(frozen=True)
class PileupParams:
    """One pileup on one slip system (paper §3.3), concrete values.

    The first slip trace passes through ``(p0_x, p0_y)`` along ``angle``; the
    second is ``slip_width`` px away on the left-hand side of the direction
    (towards +normal = (-sin, cos)). Dislocation ``j`` starts on the first
    trace at ``u_j`` px along the trace and ends on the second.
    """

    angle: float = 0.0
    slip_width: float = 120.0
    p0_x: float = 200.0
    p0_y: float = 200.0
    n_dislocations: int = 4
    spacing: float = 30.0
    spacing_ratio: float = 1.0
    spacing_jitter: float = 0.2
    inclination: float = 0.0
    curvature: float = 0.5
    curvature_jitter: float = 0.2
    shape_jitter: float = 0.03
    n_support: int = 5
    shape_source: str = "random"
    contrast: float = 0.35
    contrast_jitter: float = 0.15
    width: float = 2.5
    width_jitter: float = 0.2
    trace_contrast: float = 0.05
    trace_width: float = 1.5

    def __post_init__(self) -> None:
        _validate(self, PILEUP_KEYS, "")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in PILEUP_KEYS}


@dataclass(frozen=True)
class SynthParams:
    """Every parameter of one synthetic sample (concrete values, no ranges).

    Build one with :func:`core.synth.sample_params` from a preset, or by
    hand; change one with ``params.replace(lambda1=40)``. Invalid values raise
    :class:`~core.errors.DislocError` naming the key.
    """

    size: int = 512
    background: str = "perlin"
    perlin_backend: str = "fast"
    lambda1: float = 60.0
    lambda2: float = 20.0
    w_perlin: float = 0.3
    w_white: float = 0.6
    s1: float = 1.0
    r_noise: float = 0.3
    s2: float = 0.7
    patch_dir: str = ""
    bg_contrast: float = 0.7
    black_level: float = 0.12
    line_profile: str = "realistic"
    fringe: float = 0.2
    line_noise: float = 0.15
    contrast_modulation: float = 0.2
    blur: float = 0.0
    max_dislocations: int = MAX_DISLOCATIONS
    min_visible: float = 8.0
    shape_dir: str = ""
    aspect: float = 1.0
    illumination: float = 0.0
    vignetting: float = 0.0
    bend_contours: int = 0
    bend_contrast: float = 0.3
    bend_width: float = 60.0
    band_contrast: float = 0.0
    extra_traces: int = 0
    extra_trace_contrast: float = 0.2
    extra_trace_width: float = 2.0
    double_traces: float = 0.0
    fault_fringes: int = 0
    fringe_contrast: float = 0.15
    fringe_period: float = 6.0
    fault_width: float = 40.0
    specks: int = 0
    speck_contrast: float = 0.3
    speck_size: float = 3.0
    final_blur: float = 0.0
    grain_noise: float = 0.0
    jpeg_quality: int = 0
    modulation_period: float = 18.0
    striations: int = 0
    striation_contrast: float = 0.04
    renderer: str = "exact"
    pileups: tuple = field(default_factory=lambda: (PileupParams(),))
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _validate(self, IMAGE_KEYS, "")
        pileups = tuple(self.pileups)
        for i, p in enumerate(pileups):
            if not isinstance(p, PileupParams):
                raise DislocError(f"pileups[{i}]: must be a PileupParams, got {type(p).__name__}")
        object.__setattr__(self, "pileups", pileups)
        if self.background == "patches" and not self.patch_dir:
            raise DislocError("patch_dir: background='patches' needs a folder of background crops")
        if any(p.shape_source == "labelme" for p in pileups) and not self.shape_dir:
            raise DislocError("shape_dir: shape_source='labelme' needs a folder of labelme files")

    @property
    def height(self) -> int:
        """Image height in px (``size`` is the width; ``aspect`` < 1 makes a wide frame)."""
        return max(16, int(round(self.size * self.aspect)))

    @property
    def n_dislocations(self) -> int:
        """Dislocations asked for (before dropping those outside the image)."""
        return sum(p.n_dislocations for p in self.pileups)

    def replace(self, **changes) -> "SynthParams":
        """A copy with some values changed (validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def fast(self) -> bool:
        """True for ``renderer="fast"``: the approximate, quicker drawing paths."""
        return self.renderer == "fast"

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (``schema_version``, every key, ``pileups`` list).

        The keys of :data:`RENDER_KEYS` are left out at their default, so the
        JSON of an exact render is the one earlier versions wrote.
        """
        d: dict[str, Any] = {"schema_version": self.schema_version}
        d.update({k: getattr(self, k) for k in IMAGE_KEYS
                  if k not in RENDER_KEYS or getattr(self, k) != _DEFAULTS[k]})
        d["pileups"] = [p.to_dict() for p in self.pileups]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "params") -> "SynthParams":
        """Strict inverse of :meth:`to_dict`; errors name ``source`` and the key."""
        if not isinstance(d, Mapping):
            raise DislocError(f"{source}: parameters must be a JSON object")
        version = d.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise DislocError(f"{source}: schema_version {version!r} is newer than this program ({SCHEMA_VERSION})")
        unknown = [k for k in d if k not in IMAGE_KEYS and k not in ("pileups", "schema_version")]
        if unknown:
            raise DislocError(f"{source}: {unknown[0]}: unknown parameter")
        pl = d.get("pileups", [])
        if not isinstance(pl, list):
            raise DislocError(f"{source}: pileups: must be a list")
        pileups = []
        for i, pd in enumerate(pl):
            where = f"pileups[{i}]."
            if not isinstance(pd, Mapping):
                raise DislocError(f"{source}: pileups[{i}]: must be an object")
            for k in pd:
                if k not in PILEUP_KEYS:
                    raise DislocError(f"{source}: {where}{k}: unknown parameter")
            for k, v in pd.items():
                _wrap(source, lambda: check_value(k, v, where))
            pileups.append(PileupParams(**pd))
        for k in IMAGE_KEYS:
            if k in d:
                _wrap(source, lambda: check_value(k, d[k]))
        kwargs = {k: d[k] for k in IMAGE_KEYS if k in d}
        return _wrap(source, lambda: cls(pileups=tuple(pileups), **kwargs))


_DEFAULTS = {k: SynthParams.__dataclass_fields__[k].default for k in RENDER_KEYS}


def _wrap(source: str, fn):
    try:
        return fn()
    except DislocError as e:
        raise DislocError(f"{source}: {e}") from None


def default_params(size: int = 512, **changes) -> SynthParams:
    """Reasonable single-pileup parameters for a ``size`` image (for tests and the GUI)."""
    s = size / 512.0
    pile = PileupParams(slip_width=120 * s, p0_x=150 * s, p0_y=170 * s, spacing=30 * s)
    return SynthParams(size=size, pileups=(pile,), **changes)


def describe(name: str) -> Optional[str]:
    """One-line help for a parameter (bounds, unit, meaning), or None."""
    s = PARAM_SPECS.get(name)
    if s is None:
        return None
    if s.kind in ("float", "int"):
        return f"{s.name} [{s.lo:g}, {s.hi:g}] {s.unit}: {s.doc}".replace("  ", " ")
    if s.kind == "choice":
        return f"{s.name} ({' | '.join(s.choices)}): {s.doc}"
    return f"{s.name}: {s.doc}"
