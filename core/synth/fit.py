"""From labelled real frames: pileup grouping, fitted (M1-style) presets, synthetic twins.

The paper's microstructure M1 (§5) takes the distributions of pileups per
image, dislocations per pileup, slip width, slip direction and nearest
spacing from ~15 labelled frames of the real data. :func:`fit_preset` does
that from a folder of labelme files (one line strip per dislocation), and
:func:`twin_scene` replicates the geometry of one frame (synthetic twin).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike
from ..io.labelme import LabelFile, list_annotations, read_labelme
from .geometry import Dislocation, Scene, SlipTrace
from .params import PARAM_SPECS, SynthParams
from .presets import PRESET_SPECS, Preset, load_preset


@dataclass
class PileupFit:
    """One pileup found in an annotated frame (lengths in px of that frame).

    ``members`` are indices into the frame's dislocations, ordered along the
    trace direction; ``angle`` (deg, modulo 180) is the slip trace direction.
    """

    members: list
    angle: float
    slip_width: float
    inclination: float
    spacings: list
    curvatures: list
    center: tuple
    trace_points: tuple  # ((x, y) on the first trace, (x, y) on the second)


def _chord(p: np.ndarray) -> tuple[np.ndarray, float]:
    c = p[-1] - p[0]
    return c, float(np.hypot(*c))


def _curvature(p: np.ndarray) -> float:
    """Curvature x chord length from the sagitta: kL ~ 8 s / L (signed)."""
    c, L = _chord(p)
    if L < 1e-9:
        return 0.0
    nrm = np.array([c[1], -c[0]]) / L
    dev = (p - p[0]) @ nrm
    s = dev[np.argmax(np.abs(dev))]
    return float(np.clip(8.0 * s / L, -1.9, 1.9))


def _angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def group_pileups(polylines: list, angle_tol: float = 25.0) -> list:
    """Group dislocations into pileups by direction and proximity.

    Two dislocations belong together when their chords point the same way
    (within ``angle_tol`` deg), have similar lengths (ratio <= 1.7), lie
    within 3 chord lengths of each other across and half a chord length
    along their chords (so they span the same slip band). Groups are the
    connected components of that relation.

    Returns
    -------
    list of list of int
        Indices into ``polylines``, one list per pileup.
    """
    n = len(polylines)
    chords = [_chord(np.asarray(p, np.float64)) for p in polylines]
    mids = [np.asarray(p, np.float64)[[0, -1]].mean(axis=0) for p in polylines]
    angles = [math.degrees(math.atan2(c[1], c[0])) % 180.0 for c, _ in chords]
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            (ci, li), (cj, lj) = chords[i], chords[j]
            if min(li, lj) < 1e-9 or max(li, lj) / min(li, lj) > 1.7:
                continue
            if _angle_diff(angles[i], angles[j]) > angle_tol:
                continue
            L = (li + lj) / 2
            u = ci / li
            d = mids[j] - mids[i]
            along, across = abs(float(d @ u)), abs(float(d @ np.array([-u[1], u[0]])))
            if along <= 0.5 * L and across <= 3.0 * L:
                parent[find(i)] = find(j)
    groups: dict = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def fit_pileup(polylines: list, members: list) -> PileupFit:
    """Slip direction, slip width, inclination, spacings and curvatures of one group."""
    ps = [np.asarray(polylines[i], np.float64) for i in members]
    chords = [_chord(p)[0] for p in ps]
    # orient every chord like the first, so starts lie on one trace and ends on the other
    ref = chords[0]
    ps = [p if c @ ref >= 0 else p[::-1] for p, c in zip(ps, chords)]
    chords = [_chord(p)[0] for p in ps]
    mids = np.array([p[[0, -1]].mean(axis=0) for p in ps])
    mean_chord = np.mean(chords, axis=0)
    if len(ps) >= 2 and np.ptp(mids, axis=0).max() > 1e-6:
        # pileup members are copies shifted along the slip traces: the midpoints trace that direction
        _, _, vt = np.linalg.svd(mids - mids.mean(axis=0))
        t = vt[0]
    else:
        t = np.array([mean_chord[1], -mean_chord[0]]) / max(np.hypot(*mean_chord), 1e-9)
    nrm = np.array([-t[1], t[0]])
    if mean_chord @ nrm < 0:
        t, nrm = -t, -nrm
    widths = [float(c @ nrm) for c in chords]
    incl = [math.degrees(math.atan2(float(c @ t), float(c @ nrm))) for c in chords]
    order = np.argsort(mids @ t)
    proj = np.sort(mids @ t)
    starts = np.array([p[0] for p in ps])
    ends = np.array([p[-1] for p in ps])
    return PileupFit(
        members=[members[k] for k in order], angle=math.degrees(math.atan2(t[1], t[0])) % 180.0,
        slip_width=float(np.mean(widths)), inclination=float(np.clip(np.mean(incl), -80, 80)),
        spacings=[float(x) for x in np.diff(proj) if x > 1e-6], curvatures=[_curvature(p) for p in ps],
        center=tuple(float(x) for x in mids.mean(axis=0)),
        trace_points=(tuple(starts.mean(axis=0)), tuple(ends.mean(axis=0))),
    )


def fit_frame(lf: LabelFile) -> list:
    """Pileups of one annotated frame."""
    polys = lf.dislocations()
    return [fit_pileup(polys, g) for g in group_pileups(polys)]


def _range(values: list, key: str, pad: float = 0.1) -> Union[list, float, int]:
    spec = PRESET_SPECS.get(key) or PARAM_SPECS[key]
    lo, hi = float(min(values)), float(max(values))
    if spec.kind == "int":
        return [int(max(spec.lo, math.floor(lo))), int(min(spec.hi, math.ceil(hi)))]
    span = hi - lo
    extra = pad * span if span > 0 else pad * max(abs(lo), 1.0)
    return [float(max(spec.lo, lo - extra)), float(min(spec.hi, hi + extra))]


def _angle_range(angles: list) -> list:
    """Smallest arc (mod 180) holding all angles, as [start, end] with end possibly > 180."""
    a = np.sort(np.asarray(angles) % 180.0)
    if len(a) == 1:
        return [float(a[0]) - 5.0, float(a[0]) + 5.0]
    gaps = np.diff(np.concatenate([a, [a[0] + 180.0]]))
    k = int(np.argmax(gaps))  # cut the circle at the widest gap
    start = a[(k + 1) % len(a)]
    span = 180.0 - gaps[k]
    return [float(start) - 3.0, float(start + span) + 3.0]


def _directions(angles: list, tol: float = 15.0) -> int:
    dirs: list = []
    for a in angles:
        if all(_angle_diff(a, d) > tol for d in dirs):
            dirs.append(a)
    return max(1, len(dirs))


def fit_preset(annotations: PathLike, name: str = "m1-fit", base: Union[str, Preset] = "m2",
               size: int = 512) -> Preset:
    """Fit an M1-style preset from a folder of labelme files of real frames.

    Observed per image: pileups, slip directions; per pileup: dislocations,
    slip direction (deg), slip width (px), inclination, centre; nearest
    spacing (px) between neighbours; curvature of every dislocation. The
    preset holds ``[min, max]`` of each (lengths scaled to ``size`` px) and
    the raw observations under ``observed``; everything else (background,
    line drawing) is taken from ``base``.

    Raises
    ------
    DislocError
        When the folder has no labelme files or no dislocations, or a file
        cannot be read (naming the file and the field).
    """
    files = list_annotations(annotations)
    if not files:
        raise DislocError(f"{annotations}: no labelme .json files to fit a preset from")
    obs: dict = {k: [] for k in ("n_pileups", "n_slip_directions", "n_dislocations", "angle", "slip_width",
                                 "inclination", "spacing", "curvature", "center_x", "center_y")}
    used = []
    for f in files:
        lf = read_labelme(f)
        pile = fit_frame(lf)
        if not pile:
            continue
        used.append(f.name)
        scale = size / max(lf.image_height, lf.image_width)
        obs["n_pileups"].append(len(pile))
        obs["n_slip_directions"].append(_directions([p.angle for p in pile]))
        for p in pile:
            obs["n_dislocations"].append(len(p.members))
            obs["angle"].append(p.angle)
            obs["slip_width"].append(p.slip_width * scale)
            obs["inclination"].append(p.inclination)
            obs["spacing"].extend(s * scale for s in p.spacings)
            obs["curvature"].extend(p.curvatures)
            obs["center_x"].append(p.center[0] / lf.image_width)
            obs["center_y"].append(p.center[1] / lf.image_height)
    if not used:
        raise DislocError(f"{annotations}: the labelme files hold no dislocation line strips")
    base = load_preset(base)
    ranges = dict(base.ranges)
    for key, vals in obs.items():
        if not vals:
            continue
        ranges[key] = _angle_range(vals) if key == "angle" else _range(vals, key)
    ranges["angle_jitter"] = 0.0
    ranges["angle_flip"] = 0.5
    observed = {k: [round(float(v), 4) for v in vals] for k, vals in obs.items()}
    return Preset(name=name, ranges=ranges, size=size,
                  description=f"Fitted from {len(used)} labelled frames in {Path(annotations).name} "
                              f"(microstructure M1 style); drawing and background from '{base.name}'.",
                  meta={"fitted_from": used, "observed": observed})


def twin_scene(lf: LabelFile, params: SynthParams, seed: int = 0) -> Scene:
    """The geometry of an annotated frame as a :class:`Scene` (synthetic twin).

    Every annotated line strip becomes a dislocation (its points are the
    spline's support points); slip traces are fitted per pileup through the
    mean start and end points along the fitted slip direction. Contrast and
    width come from ``params`` (first pileup's values with their jitter).
    """
    polys = lf.dislocations()
    if not polys:
        raise DislocError(f"{lf.image_path or 'annotation'}: shapes: no dislocation line strips to replicate")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A1]))
    ref = params.pileups[0] if params.pileups else None
    contrast, cj = (ref.contrast, ref.contrast_jitter) if ref else (0.4, 0.1)
    width, wj = (ref.width, ref.width_jitter) if ref else (3.0, 0.1)
    tc, tw = (ref.trace_contrast, ref.trace_width) if ref else (0.05, 1.5)
    scene = Scene(lf.image_height, lf.image_width)
    group_of = {}
    span = 2 * max(lf.image_height, lf.image_width)
    for gi, g in enumerate(group_pileups(polys)):
        fit = fit_pileup(polys, g)
        a = math.radians(fit.angle)
        t = np.array([math.cos(a), math.sin(a)])
        for i in g:
            group_of[i] = gi
        for pt in fit.trace_points:
            o = np.asarray(pt)
            scene.traces.append(SlipTrace(np.stack([o - span * t, o + span * t]), tc, tw, gi))
        scene.pileups.append({"members": fit.members, "angle": fit.angle, "slip_width": fit.slip_width,
                              "source": "annotation"})
    for i, poly in enumerate(polys):  # annotation order, so mask k is line strip k
        c = float(np.clip(contrast * (1 + cj * (2 * rng.random() - 1)), 0.01, 0.95))
        w = float(max(0.8, width * (1 + wj * (2 * rng.random() - 1))))
        scene.dislocations.append(Dislocation(poly, c, w, group_of[i]))
    return scene


def load_annotation(path: PathLike) -> LabelFile:
    """Read one labelme file (errors name the file and the field)."""
    return read_labelme(path)


def twin_params(preset: Union[str, Preset], seed: int, height: int, width: int,
                source: str = "annotation") -> SynthParams:
    """Background and drawing parameters for a twin of a ``height x width`` frame (``source`` names it in errors)."""
    from .params import PARAM_SPECS
    from .presets import sample_params

    lo, hi = PARAM_SPECS["size"].lo, PARAM_SPECS["size"].hi
    if not lo <= max(height, width) <= hi:
        raise DislocError(f"{source}: imageWidth x imageHeight: a twin is made of frames from {lo:g} to {hi:g} px a "
                          f"side, this one is {width}x{height} px; crop the frame and its annotation")
    return sample_params(load_preset(preset), seed, max(height, width))


__all__ = ["PileupFit", "group_pileups", "fit_pileup", "fit_frame", "fit_preset", "twin_scene", "twin_params",
           "load_annotation"]
