"""What the Designer edits, without Qt: concrete parameters, the preset they came from, a twin scene.

The designer shows one concrete sample (:class:`SynthParams` + seed) and
lets the user move each value. A preset holds *ranges*; saving turns the
tuned values back into ranges: every parameter the user moved keeps the
width of its preset range, re-centred on the new value (clipped to the
allowed bounds); a fixed preset value becomes the new fixed value.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from core.colors import color
from core.errors import DislocError
from core.synth.params import IMAGE_KEYS, MAX_DISLOCATIONS, PARAM_SPECS, PILEUP_KEYS, PileupParams, SynthParams
from core.synth.presets import Preset

#: Parameter groups as the designer shows them: (title, one-line explanation, parameter names). The first
#: four follow method.md §1; the rest are what real frames show besides dislocations (core/synth/scenery.py).
GROUPS = [
    ("Background", "The mottled grey texture behind the lines (two noise fields, smoothed), or crops of your frames.",
     ["background", "lambda1", "lambda2", "w_perlin", "w_white", "s1", "r_noise", "s2", "bg_contrast",
      "black_level", "aspect"]),
    ("Slip system", "Where a pileup lies: two parallel slip traces its dislocations run between.",
     ["angle", "slip_width", "p0_x", "p0_y", "trace_contrast", "trace_width", "band_contrast"]),
    ("Pileup", "How many dislocations follow each other along the traces, how far apart, how bowed.",
     ["n_dislocations", "spacing", "spacing_ratio", "spacing_jitter", "inclination", "curvature",
      "curvature_jitter", "shape_jitter", "n_support", "max_dislocations"]),
    ("Drawing", "How a dislocation line looks: darkness, width, edges, beads, blur.",
     ["line_profile", "contrast", "contrast_jitter", "width", "width_jitter", "fringe", "line_noise",
      "contrast_modulation", "modulation_period", "blur", "min_visible"]),
    ("Illumination", "Uneven brightness of the whole frame: gradients, dark corners, bend contours.",
     ["illumination", "vignetting", "bend_contours", "bend_contrast", "bend_width"]),
    ("Lines that are not dislocations (never masked)",
     "Straight slip traces, boundaries, fringes and streaks the network must learn to ignore.",
     ["extra_traces", "extra_trace_contrast", "extra_trace_width", "double_traces", "fault_fringes",
      "fringe_contrast", "fringe_period", "fault_width", "striations", "striation_contrast"]),
    ("Specks and dirt", "Small round dark or bright spots: particles, dirt, small loops.",
     ["specks", "speck_contrast", "speck_size"]),
    ("Camera", "What the camera and the video file add to the finished image.",
     ["final_blur", "grain_noise", "jpeg_quality"]),
    ("Advanced", "How the image is computed, not what it shows: 'exact' repeats earlier versions bit for bit, "
     "'fast' draws the same kind of image, with the same masks, in about 60 % of the time.",
     ["renderer"]),
]
#: Controls that do nothing for a twin: its geometry comes from the annotated frame (core.synth.fit.twin_scene
#: takes only line darkness, width and slip trace look from the first pileup).
TWIN_UNUSED = ("angle", "slip_width", "p0_x", "p0_y", "band_contrast", "n_dislocations", "spacing", "spacing_ratio",
               "spacing_jitter", "inclination", "curvature", "curvature_jitter", "shape_jitter", "n_support",
               "max_dislocations")


def shown_groups() -> list[tuple[str, str, list[str]]]:
    """GROUPS without the parameters this version of core.synth does not have (the list may run ahead)."""
    return [(t, doc, [n for n in names if n in PARAM_SPECS]) for t, doc, names in GROUPS]


def left_out(params: SynthParams) -> tuple[int, int, int]:
    """(dislocations that fit, pileups left out entirely, pileups cut short) under ``max_dislocations``.

    Pileups are filled in order; those past the cap lose their dislocations
    (core.synth.geometry.build_scene keeps the first ``max_dislocations``).
    """
    cap = min(params.max_dislocations, MAX_DISLOCATIONS)
    start, gone, cut = 0, 0, 0
    for p in params.pileups:
        if start >= cap:
            gone += 1
        elif start + p.n_dislocations > cap:
            cut += 1
        start += p.n_dislocations
    return min(start, cap), gone, cut


def left_out_text(params: SynthParams) -> str:
    """``"20 dislocations fill the image: 3 pileups left out"`` when the cap removes any, else ""."""
    n, gone, cut = left_out(params)
    if not gone and not cut:
        return ""
    parts = ([f"{gone} pileup{'s' if gone != 1 else ''} left out"] if gone else []) + \
            ([f"{cut} pileup{'s' if cut != 1 else ''} cut short"] if cut else [])
    return f"{n} dislocations fill the image: {', '.join(parts)} (raise 'most dislocations per image' or remove pileups)"


# Slider spans for parameters a preset leaves fixed: the useful part of the allowed bounds
# (a 0-8192 px slider would be unusable). Pixel lengths are for a 512 px image.
_UI_SPANS = {
    "lambda1": (2, 300), "lambda2": (2, 300), "w_perlin": (0, 1), "w_white": (0, 1.5), "s1": (0, 4),
    "r_noise": (0, 1), "s2": (0, 4), "black_level": (0, 0.5), "blur": (0, 3), "angle": (-180, 180),
    "slip_width": (8, 512), "p0_x": (-128, 640), "p0_y": (-128, 640), "spacing": (1, 256),
    "inclination": (-80, 80), "min_visible": (0, 100), "bend_width": (2, 300), "fault_width": (4, 300),
    "specks": (0, 300), "striations": (0, 300), "illumination": (0, 1.5),
}
_NOT_IN_PRESETS = ("size", "p0_x", "p0_y")


def slider_span(name: str, preset: Optional[Preset], size: int) -> tuple[float, float]:
    """The slider range of a number parameter: the preset's range with room on both sides."""
    spec = PARAM_SPECS[name]
    lo, hi = _UI_SPANS.get(name, (spec.lo, spec.hi))
    if spec.length:
        lo, hi = lo * size / 512.0, hi * size / 512.0
    entry = preset.range_of(name) if preset is not None and name not in _NOT_IN_PRESETS else None
    if isinstance(entry, tuple):
        a, b = entry
        if spec.length:
            a, b = a * size / preset.size, b * size / preset.size
        pad = max((b - a) / 2.0, 1e-9)
        lo, hi = min(lo, a - pad), max(hi, b + pad)
    lo, hi = max(lo, spec.lo), min(hi, spec.hi)
    if spec.kind == "int":
        lo, hi = int(np.floor(lo)), int(np.ceil(hi))
    return lo, hi


@dataclass
class DesignerState:
    """Concrete parameters being tuned, the preset, and which pileup the pileup controls edit."""

    params: SynthParams
    preset: Optional[Preset] = None
    seed: int = 0
    pileup: int = 0
    touched: set = field(default_factory=set)

    def values(self) -> dict[str, Any]:
        """Current value of every parameter shown (pileup-level ones from the chosen pileup)."""
        d = {k: getattr(self.params, k) for k in IMAGE_KEYS}
        if self.params.pileups:
            p = self.params.pileups[min(self.pileup, len(self.params.pileups) - 1)]
            d.update({k: getattr(p, k) for k in PILEUP_KEYS})
        return d

    def set(self, name: str, value: Any) -> None:
        """Change one value (validated: raises DislocError naming the key)."""
        if name in PILEUP_KEYS:
            pl = list(self.params.pileups) or [PileupParams()]
            i = min(self.pileup, len(pl) - 1)
            pl[i] = dataclasses.replace(pl[i], **{name: value})
            self.params = self.params.replace(pileups=tuple(pl))
        elif name in IMAGE_KEYS:
            self.params = self.params.replace(**{name: value})
        else:
            raise DislocError(f"{name}: unknown parameter")
        self.touched.add(name)

    def add_pileup(self) -> int:
        """Copy the chosen pileup, shifted along its trace; returns the new index."""
        pl = list(self.params.pileups) or [PileupParams()]
        src = pl[min(self.pileup, len(pl) - 1)]
        shift = src.slip_width * 1.5
        new = dataclasses.replace(src, p0_x=src.p0_x - np.sin(np.radians(src.angle)) * shift,
                                  p0_y=src.p0_y + np.cos(np.radians(src.angle)) * shift)
        pl.append(new)
        self.params = self.params.replace(pileups=tuple(pl))
        self.pileup = len(pl) - 1
        return self.pileup

    def remove_pileup(self) -> None:
        pl = list(self.params.pileups)
        if len(pl) <= 1:
            raise DislocError("an image needs at least one pileup")
        pl.pop(min(self.pileup, len(pl) - 1))
        self.params = self.params.replace(pileups=tuple(pl))
        self.pileup = min(self.pileup, len(pl) - 1)

    def tuned_preset(self, name: Optional[str] = None) -> Preset:
        """The preset with every moved parameter re-centred on its tuned value (module docstring)."""
        base = self.preset if self.preset is not None else Preset(name or "designer", {}, self.params.size)
        values = self.values()
        d = base.to_dict()  # plain JSON values; rebuilt and validated once at the end
        ranges = d["ranges"]
        for k in sorted(self.touched):
            if k in _NOT_IN_PRESETS or k not in values:
                continue
            v = values[k]
            spec = PARAM_SPECS[k]
            if spec.length:
                v = v * base.size / self.params.size
            entry = base.range_of(k)
            if isinstance(entry, tuple) and spec.kind in ("int", "float"):
                half = (entry[1] - entry[0]) / 2.0
                lo, hi = max(spec.lo, v - half), min(spec.hi, v + half)
                if spec.kind == "int":
                    lo, hi = int(round(lo)), int(round(hi))
                ranges[k] = [lo, hi]
            else:
                ranges[k] = v
        if self.params.background == "patches" and self.params.patch_dir:
            ranges["patch_dir"] = self.params.patch_dir
        if name:
            d["name"] = name
        return Preset.from_dict(d, source=f"preset {d['name']!r}")


def overlay_rgba(masks: np.ndarray, alpha: int = 100) -> np.ndarray:
    """Masks (K, H, W) as one RGBA uint8 image: each dislocation in its colour, the rest transparent."""
    k = len(masks)
    h, w = masks.shape[1:] if masks.ndim == 3 else (1, 1)
    out = np.zeros((h, w, 4), np.uint8)
    for i in range(k):
        out[masks[i]] = (*color(i), alpha)
    return out


def render_preview(params: SynthParams, seed: int, scene=None) -> dict:
    """Render one preview (runs in a worker): image, RGBA overlay, slip trace segments."""
    from core.synth.generate import generate, render_scene

    sample = render_scene(scene, params, seed) if scene is not None else generate(params, seed)
    return {"image": sample.image, "overlay": overlay_rgba(sample.masks),
            "traces": [np.asarray(t, float).tolist() for t in sample.slip_traces],
            "n": int(len(sample.masks)), "background": sample.record.get("background", {}).get("kind", ""),
            "dropped": len(sample.record.get("dropped", []))}
