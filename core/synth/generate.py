"""One synthetic sample: background + slip traces + dislocations + masks.

``generate(params, seed)`` draws the geometry from the seed and renders it;
``render_scene(scene, params, seed)`` renders given geometry (synthetic
twin, glide video, analysis tests). Both return a :class:`Sample` whose
``to_json()`` regenerates it bit for bit via :func:`sample_from_json`.

Random streams are separate children of the seed (geometry, background
texture, background noise, line noise), so changing the number of
dislocations in the GUI designer leaves the background unchanged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from .. import __version__
from ..io.dataset import to_uint8
from ..errors import DislocError
from .background import make_background
from .draw import clip_line, draw_dislocations, draw_traces
from .geometry import STEP_PX, Dislocation, Scene, build_scene, centerlines_fast, polyline_length, visible_part
from .params import SynthParams
from .scenery import apply_camera, apply_scenery, has_camera

log = logging.getLogger(__name__)
FORMAT = "disloc-synth-sample"
SCHEMA_VERSION = 1
_F = np.float32
_GEO, _TEXTURE, _NOISE, _LINES, _SCENERY, _CAMERA = 1, 2, 3, 4, 5, 6
DRAW_STEP_PX = 3.0  # segment length for drawing: < 0.1 px from the spline at the curvatures allowed
_SAMPLE_KEYS = ("schema_version", "format", "created_by", "mode", "seed", "texture_seed", "params", "scene",
                "record", "dataset", "regenerated_from", "twin_of")
SeedLike = Union[int, np.integer, np.random.Generator, None]


@dataclass
class Sample:
    """A generated image with its ground truth.

    Attributes
    ----------
    image : float32 (H, W) in [0, 1]
    masks : bool (K, H, W), one per dislocation, overlaps kept
    polylines : list of (P, 2) float64
        Centre line (x, y) px of each dislocation inside the image, same order as ``masks``.
    slip_traces : list of (2, 2) float64
        Each slip trace as its two end points on the image border.
    pileup : list of int
        Pileup index of each dislocation (same order as ``masks``).
    dislocations : list of Dislocation
        What was drawn (support points, contrast, width), same order as ``masks``.
    params, seed, texture_seed, scene, mode, record
        Everything needed to regenerate the sample (see :meth:`to_json`).
    """

    image: np.ndarray
    masks: np.ndarray
    polylines: list
    slip_traces: list
    pileup: list
    dislocations: list
    params: SynthParams
    seed: int
    scene: Scene
    mode: str = "generate"
    texture_seed: Optional[int] = None
    record: dict = field(default_factory=dict)

    def image_u8(self) -> np.ndarray:
        """The image as uint8 (H, W), what the PNG holds."""
        return to_uint8(self.image)

    def overlay(self) -> np.ndarray:
        """RGB uint8 picture of the masks over the image."""
        from ..colors import overlay_masks

        return overlay_masks(self.masks, self.image)

    def to_json(self) -> dict:
        """A JSON-ready dict with every parameter and seed; :func:`sample_from_json` regenerates the sample."""
        return {
            "schema_version": SCHEMA_VERSION, "format": FORMAT, "created_by": f"disloc {__version__}",
            "mode": self.mode, "seed": int(self.seed),
            "texture_seed": None if self.texture_seed is None else int(self.texture_seed),
            "params": self.params.to_dict(), "scene": self.scene.to_dict(), "record": self.record,
        }


def _as_seed(rng_or_seed: SeedLike) -> int:
    if isinstance(rng_or_seed, np.random.Generator):
        return int(rng_or_seed.integers(0, 2**63 - 1))
    if rng_or_seed is None:
        return int(np.random.SeedSequence().generate_state(2, np.uint64)[0] >> np.uint64(1))
    if isinstance(rng_or_seed, (bool, float)) or not isinstance(rng_or_seed, (int, np.integer)) or rng_or_seed < 0:
        raise DislocError(f"seed: must be a non-negative whole number, got {rng_or_seed!r}")
    return int(rng_or_seed)


def _stream(seed: int, which: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, which]))


def generate(params: SynthParams, rng_or_seed: SeedLike = None, *, texture_seed: Optional[int] = None) -> Sample:
    """Generate one sample from concrete parameters.

    Parameters
    ----------
    params : SynthParams
    rng_or_seed : int or numpy Generator
        A seed (recorded as is) or a Generator (one integer is drawn from it
        and recorded as the seed). None: a fresh random seed.
    texture_seed : int, optional
        Seed of the background texture (Perlin lattice or crops); defaults
        to ``seed``. Frames of a video share one.

    Returns
    -------
    Sample
        ``image`` (size x size px) and one mask per dislocation.
    """
    if not isinstance(params, SynthParams):
        raise DislocError(f"params: must be a SynthParams, got {type(params).__name__}")
    seed = _as_seed(rng_or_seed)
    scene = build_scene(params, np.random.SeedSequence([seed, _GEO]))
    return _render(scene, params, seed, texture_seed, "generate")


def render_scene(scene: Scene, params: SynthParams, seed: SeedLike = 0, *,
                 texture_seed: Optional[int] = None) -> Sample:
    """Draw given geometry (dislocations and slip traces) on a new background.

    Parameters
    ----------
    scene : Scene
        Explicit dislocations (support points, contrast, width) and slip
        traces; the image is ``scene.height x scene.width`` px.
    params : SynthParams
        Background and drawing parameters (its pileups are not used).
    seed : int or Generator
        Seeds the background and the line noise.
    texture_seed : int, optional
        Seed of the background texture (default: ``seed``).
    """
    return _render(scene, params, _as_seed(seed), texture_seed, "scene")


def _render(scene: Scene, params: SynthParams, seed: int, texture_seed: Optional[int], mode: str) -> Sample:
    h, w = int(scene.height), int(scene.width)
    if h < 1 or w < 1:
        raise DislocError(f"scene: image size {w}x{h} px is empty")
    side = max(h, w)
    bp = params if params.size == side else params.replace(size=side)
    tseed = seed if texture_seed is None else int(texture_seed)
    bg, bg_rec = make_background(bp, _stream(tseed, _TEXTURE), _stream(seed, _NOISE), h)
    bg = np.ascontiguousarray(bg[:h, :w])
    if params.bg_contrast != 1.0:  # soften the background around its mean; lines keep their contrast
        mean = _F(bg.mean())
        bg -= mean  # mean + contrast * (bg - mean), in place
        bg *= _F(params.bg_contrast)
        bg += mean
    black = _F(params.black_level)
    img = bg  # black + (1 - black) * bg, in place
    img *= _F(1) - black
    img += black
    scenery = apply_scenery(img, scene, params, _stream(tseed, _SCENERY))
    draw_traces(img, scene.traces, params.fast)
    np.clip(img, 0.0, 1.0, out=img)

    lines, polylines, kept, dropped = [], [], [], []
    if params.fast and scene.dislocations:
        centres = centerlines_fast(scene.dislocations, STEP_PX, DRAW_STEP_PX)
    else:
        centres = [dis.centerlines(STEP_PX, DRAW_STEP_PX) for dis in scene.dislocations]
    for i, (dis, (fine, drawn)) in enumerate(zip(scene.dislocations, centres)):
        vis = visible_part(fine, h, w)
        if polyline_length(vis) < max(params.min_visible, 1.0):
            dropped.append(i)
            continue
        lines.append((drawn, dis))
        polylines.append(vis)
        kept.append(i)
    masks = draw_dislocations(img, lines, params, _stream(seed, _LINES))
    nonempty = masks.any(axis=(1, 2))
    if not nonempty.all():
        dropped.extend(kept[j] for j in np.flatnonzero(~nonempty))
        masks = masks[nonempty]
        polylines = [p for p, ok in zip(polylines, nonempty) if ok]
        kept = [k for k, ok in zip(kept, nonempty) if ok]
    np.clip(img, 0.0, 1.0, out=img)
    if has_camera(params):
        img = apply_camera(img, params, _stream(seed, _CAMERA))

    traces = []
    for tr in scene.traces:
        seg = clip_line(tr.points[0], tr.points[1], h, w, 0.0)
        if seg is not None:
            traces.append(seg)
    dis_kept = [scene.dislocations[k] for k in kept]
    if scenery:
        bg_rec = {**bg_rec, "scenery": scenery}
    record = {"background": bg_rec, "kept": kept, "dropped": sorted(dropped),
              "visible_length_px": [round(polyline_length(p), 3) for p in polylines]}
    return Sample(image=img, masks=masks, polylines=polylines, slip_traces=traces,
                  pileup=[d.pileup for d in dis_kept], dislocations=dis_kept, params=params, seed=seed,
                  scene=scene, mode=mode, texture_seed=texture_seed, record=record)


def sample_from_json(d: Any, source: str = "sample") -> Sample:
    """Regenerate a sample from :meth:`Sample.to_json` output (or the params JSON of a dataset).

    Raises
    ------
    DislocError
        When ``d`` is not a sample record, naming ``source`` and the field.
    """
    if not isinstance(d, dict):
        raise DislocError(f"{source}: a sample record must be a JSON object")
    if d.get("format") != FORMAT:
        raise DislocError(f"{source}: format: not a synthetic sample record (should be '{FORMAT}')")
    if d.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
        raise DislocError(f"{source}: schema_version {d['schema_version']} is newer than this program")
    for key in d:
        if key not in _SAMPLE_KEYS:
            raise DislocError(f"{source}: {key}: unknown key (known: {', '.join(_SAMPLE_KEYS)})")
    for key in ("seed", "params", "mode"):
        if key not in d:
            raise DislocError(f"{source}: {key}: missing")
    params = SynthParams.from_dict(d["params"], source=f"{source}: params")
    seed = d["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DislocError(f"{source}: seed: must be a non-negative whole number, got {seed!r}")
    ts = d.get("texture_seed")
    if d["mode"] == "generate":
        sample = generate(params, seed, texture_seed=ts)
        _warn_if_geometry_differs(d.get("scene"), sample, source)
    elif d["mode"] == "scene":
        if "scene" not in d:
            raise DislocError(f"{source}: scene: missing")
        sample = render_scene(Scene.from_dict(d["scene"], f"{source}: scene"), params, seed, texture_seed=ts)
    else:
        raise DislocError(f"{source}: mode: {d['mode']!r} is not 'generate' or 'scene'")
    rec = d.get("record", {}).get("background", {})
    if rec.get("kind") == "patches" and rec.get("files") != sample.record["background"]["files"]:
        raise DislocError(f"{source}: record.background.files: the background folder {params.patch_dir} changed "
                          f"(recorded {rec.get('files')}, now {sample.record['background']['files']})")
    return sample


def _warn_if_geometry_differs(recorded: Any, sample: Sample, source: str) -> None:
    """A record made by another version may regenerate differently: say so rather than stay silent."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("dislocations"), list):
        return
    rec = recorded["dislocations"]
    now = sample.scene.dislocations
    same = len(rec) == len(now) and all(
        np.allclose(np.asarray(r.get("support"), np.float64), d.support, rtol=0, atol=1e-9) for r, d in zip(rec, now))
    if not same:
        log.warning("%s: the regenerated geometry differs from the recorded scene "
                    "(written by another version of the generator?)", source)


def dislocation(points, contrast: float = 0.35, width: float = 2.5, pileup: int = -1,
                kind: str = "spline") -> Dislocation:
    """Shorthand for building scenes by hand."""
    return Dislocation(np.asarray(points, np.float64), contrast, width, pileup, kind)
