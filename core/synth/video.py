"""A synthetic in-situ video: one pileup gliding a few pixels per frame.

The background texture and the slip traces stay; the white noise and the
line noise are new in every frame, as in a real recording. Every frame keeps
its ground truth (masks, centre lines); ``frame.record["kept"][k]`` is the
identity of mask k (the dislocation's index in the pileup), also when a
dislocation leaves the image.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .generate import Sample, render_scene
from .geometry import Dislocation, Scene, build_pileup
from .params import PileupParams, SynthParams, default_params


def glide_scene(base: Scene, t: np.ndarray, shifts: np.ndarray) -> Scene:
    """``base`` with dislocation k moved by ``shifts[k]`` px along the unit vector ``t``."""
    moved = [Dislocation(d.support + shifts[k] * t[None, :], d.contrast, d.width, d.pileup, d.kind)
             for k, d in enumerate(base.dislocations)]
    return Scene(base.height, base.width, moved, list(base.traces), list(base.pileups))


def make_glide_video(n_frames: int = 20, seed: int = 0, size: int = 256, shift_px: float = 2.0,
                     params: Optional[SynthParams] = None, n_dislocations: int = 5,
                     speed_spread: float = 0.3) -> list[Sample]:
    """Frames of a pileup gliding along its slip traces.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    seed : int
        Seeds the geometry, the texture (shared by all frames) and each frame's noise.
    size : int
        Frame size (px).
    shift_px : float
        Mean glide per frame (px) along the slip trace direction.
    params : SynthParams, optional
        Background and drawing parameters (default: :func:`default_params`).
    n_dislocations : int
        Dislocations in the pileup (when ``params`` is None).
    speed_spread : float
        Dislocation k glides ``shift_px * (1 + speed_spread * (k / (n - 1) - 0.5))``
        px per frame, so the spacings change slowly as in a real pileup.

    Returns
    -------
    list of Sample
        One per frame, with masks and centre lines.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x71DE]))
    if params is None:
        s = size / 512.0
        angle = float(rng.uniform(0, 360))
        pile = PileupParams(angle=angle, slip_width=140 * s, n_dislocations=n_dislocations, spacing=34 * s,
                            spacing_ratio=0.9, curvature=0.8, shape_jitter=0.01, inclination=10.0,
                            contrast=0.45, width=3.0)
        # start upstream of the centre so the pileup glides across the frame
        a = math.radians(angle)
        t, n = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        travel = shift_px * n_frames
        p0 = np.array([size / 2, size / 2]) - t * (travel / 2 + 2 * 34 * s) - n * pile.slip_width / 2
        pile = PileupParams(**{**pile.to_dict(), "p0_x": float(p0[0]), "p0_y": float(p0[1])})
        params = default_params(size).replace(pileups=(pile,))
    pile = params.pileups[0]
    dis, traces, rec = build_pileup(pile, 0, rng, size)
    base = Scene(size, size, dis, traces, [rec])
    a = math.radians(pile.angle)
    t = np.array([math.cos(a), math.sin(a)])
    k = len(dis)
    speed = shift_px * (1 + speed_spread * ((np.arange(k) / max(k - 1, 1)) - 0.5))
    frames = []
    for f in range(n_frames):
        frame_seed = int(np.random.SeedSequence([int(seed), f, 0xF4A]).generate_state(1)[0])
        frames.append(render_scene(glide_scene(base, t, speed * f), params, frame_seed, texture_seed=int(seed)))
    return frames
