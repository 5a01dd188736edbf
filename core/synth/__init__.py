"""Synthetic TEM images of dislocations with exact instance masks (method §1).

Plain library API::

    from core.synth import generate, SynthParams, Sample, load_preset, sample_params
    params = sample_params(load_preset("m2"), seed=7)   # concrete values from ranges
    sample = generate(params, 7)                         # Sample: image, masks, polylines, ...

Lower level: :func:`render_scene` draws given geometry (a :class:`Scene`).
Datasets: :func:`core.synth.writer.write_dataset`; preset fitting:
:func:`core.synth.fit.fit_preset`; synthetic twin: :func:`core.synth.fit.twin_scene`;
glide video: :func:`core.synth.video.make_glide_video`.
"""
from .generate import Sample, generate, render_scene, sample_from_json
from .geometry import Dislocation, Scene, SlipTrace
from .params import MAX_DISLOCATIONS, PARAM_SPECS, PileupParams, SynthParams, default_params
from .presets import PRESET_SPECS, Preset, list_presets, load_preset, sample_params, save_preset

__all__ = [
    "Sample", "generate", "render_scene", "sample_from_json",
    "Dislocation", "Scene", "SlipTrace",
    "MAX_DISLOCATIONS", "PARAM_SPECS", "PileupParams", "SynthParams", "default_params",
    "PRESET_SPECS", "Preset", "list_presets", "load_preset", "sample_params", "save_preset",
]
