"""Synthetic generator, library level: parameters, presets, rendering, ground truth."""
import json
import math
import time

import numpy as np
import pytest

from core.errors import DislocError
from core.synth import (
    MAX_DISLOCATIONS, Dislocation, PileupParams, Sample, Scene, SlipTrace, SynthParams, default_params,
    generate, load_preset, render_scene, sample_from_json, sample_params,
)
from core.synth.background import perlin_background
from core.synth.geometry import cubic_spline
from core.synth.params import IMAGE_KEYS, PILEUP_KEYS, RENDER_KEYS
from core.synth.presets import PRESET_SPECS


def _background_only(s: Sample) -> np.ndarray:
    """The same render without dislocations (same seeds: same background, traces)."""
    return render_scene(s.scene.without_dislocations(), s.params, s.seed, texture_seed=s.texture_seed).image


def test_generate_returns_image_masks_and_centre_lines():
    s = generate(default_params(128), 5)
    assert s.image.dtype == np.float32 and s.image.shape == (128, 128)
    assert 0.0 <= s.image.min() and s.image.max() <= 1.0
    assert s.masks.dtype == bool and s.masks.shape[1:] == (128, 128) and 1 <= len(s.masks) <= MAX_DISLOCATIONS
    assert len(s.polylines) == len(s.masks) == len(s.pileup) == len(s.dislocations)
    for poly, m in zip(s.polylines, s.masks):
        assert poly.ndim == 2 and poly.shape[1] == 2
        # every centre-line sample lies in (or next to) its own mask
        xi, yi = np.clip(np.rint(poly).astype(int), 0, 127).T
        assert m[yi, xi].mean() > 0.95
    assert s.image_u8().dtype == np.uint8
    assert len(s.slip_traces) == 2 and all(t.shape == (2, 2) for t in s.slip_traces)


def test_generate_accepts_a_generator_and_records_the_seed():
    p = default_params(64)
    s = generate(p, np.random.default_rng(3))
    again = generate(p, s.seed)
    assert np.array_equal(s.image, again.image) and np.array_equal(s.masks, again.masks)


@pytest.mark.parametrize("profile", ["gaussian", "realistic"])
def test_json_regenerates_bit_for_bit(profile):
    p = sample_params("m2", 11, size=160).replace(line_profile=profile)
    s = generate(p, 11)
    d = json.loads(json.dumps(s.to_json()))  # through real JSON text
    r = sample_from_json(d)
    assert np.array_equal(r.image, s.image)
    assert np.array_equal(r.masks, s.masks)
    assert all(np.array_equal(a, b) for a, b in zip(r.polylines, s.polylines))
    assert d["seed"] == 11 and d["params"]["line_profile"] == profile
    # the renderer is written only when not "exact": this JSON is the one earlier versions wrote
    assert set(d["params"]) == set(IMAGE_KEYS) - set(RENDER_KEYS) | {"schema_version", "pileups"}
    assert set(d["params"]["pileups"][0]) == set(PILEUP_KEYS)


def test_render_scene_json_regenerates_bit_for_bit():
    scene = Scene(96, 120, [Dislocation([[10, 10], [50, 40], [100, 60]], 0.5, 3.0, 0)],
                  [SlipTrace([[0, 5], [120, 5]], 0.1, 1.5, 0)])
    s = render_scene(scene, default_params(96), 4)
    assert s.image.shape == (96, 120) and s.mode == "scene"
    r = sample_from_json(json.loads(json.dumps(s.to_json())))
    assert np.array_equal(r.image, s.image) and np.array_equal(r.masks, s.masks)


def test_sampled_params_stay_inside_the_preset_ranges():
    pr = load_preset("m2")
    for seed in range(25):
        p = sample_params(pr, seed)
        for k in IMAGE_KEYS:
            entry = pr.ranges.get(k)
            v = getattr(p, k)
            if isinstance(entry, tuple):
                assert entry[0] <= v <= entry[1], (k, v, entry)
            elif isinstance(entry, dict):
                assert v in entry["choices"], (k, v)
            elif entry is not None:
                assert v == entry, (k, v)
        lo, hi = pr.ranges["n_pileups"]
        assert 1 <= len(p.pileups) <= hi
        assert p.n_dislocations <= MAX_DISLOCATIONS
        for q in p.pileups:
            for k in ("slip_width", "spacing", "inclination", "curvature", "contrast", "width", "trace_contrast"):
                a, b = pr.ranges[k]
                assert a <= getattr(q, k) <= b, (k, getattr(q, k))
            assert 1 <= q.n_dislocations <= pr.ranges["n_dislocations"][1]
        # Table 1 of the paper
        assert 10 <= p.lambda1 <= 100 and 10 <= p.lambda2 <= 100 and 0.2 <= p.w_perlin <= 0.4
        assert 0.5 <= p.w_white <= 0.7 and p.s1 == 1.0 and 0.2 <= p.r_noise <= 0.4 and 0.6 <= p.s2 <= 0.8


def test_sample_params_is_deterministic_and_scales_lengths():
    a, b = sample_params("m2", 3), sample_params("m2", 3)
    assert a == b and sample_params("m2", 4) != a
    small = sample_params("m2", 3, size=128)
    assert small.size == 128
    assert small.pileups[0].slip_width == pytest.approx(a.pileups[0].slip_width / 4)
    assert small.pileups[0].width == a.pileups[0].width  # line width is not a geometric length


def test_at_most_twenty_dislocations_per_image():
    pr = load_preset("m2").with_range("n_pileups", [6, 6]).with_range("n_dislocations", [8, 8])
    p = sample_params(pr, 0, size=128)
    assert p.n_dislocations == MAX_DISLOCATIONS
    assert len(generate(p, 0).masks) <= MAX_DISLOCATIONS


@pytest.mark.parametrize("make, key", [
    (lambda: SynthParams(lambda1=5000.0), "lambda1"),
    (lambda: SynthParams(s2=-1.0), "s2"),
    (lambda: SynthParams(line_profile="toon"), "line_profile"),
    (lambda: PileupParams(contrast=2.0), "contrast"),
    (lambda: PileupParams(n_dislocations=21), "n_dislocations"),
    (lambda: PileupParams(n_support=2.5), "n_support"),
    (lambda: SynthParams.from_dict({"lambda1": 50, "colour": 3}), "colour"),
    (lambda: SynthParams.from_dict({"pileups": [{"angle": 3, "wobble": 1}]}), "pileups[0].wobble"),
    (lambda: SynthParams.from_dict({"pileups": [{"width": "thick"}]}), "pileups[0].width"),
    (lambda: SynthParams(background="patches"), "patch_dir"),
])
def test_bad_params_name_the_key(make, key):
    with pytest.raises(DislocError, match=key.replace("[", r"\[").replace("]", r"\]")):
        make()


@pytest.mark.parametrize("ranges, key", [
    ({"lambda1": [1, 100]}, "lambda1"),
    ({"lambda1": [80, 20]}, "lambda1"),
    ({"wobble": [1, 2]}, "wobble"),
    ({"n_pileups": [0, 3]}, "n_pileups"),
    ({"p0_x": 3.0}, "p0_x"),
    ({"line_profile": {"choices": ["gaussian", "pastel"]}}, "line_profile"),
])
def test_bad_preset_names_the_file_and_key(tmp_path, ranges, key):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema_version": 1, "name": "bad", "ranges": ranges}))
    with pytest.raises(DislocError) as e:
        load_preset(path)
    assert str(path) in str(e.value) and key in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_preset_name_lists_the_built_in_ones():
    with pytest.raises(DislocError, match="m2"):
        load_preset("m9")


def test_preset_roundtrip(tmp_path):
    from core.synth import save_preset

    pr = load_preset("m2").with_range("spacing", [10, 20])
    save_preset(pr, tmp_path / "p.json")
    back = load_preset(tmp_path / "p.json")
    assert back.ranges == pr.ranges and back.size == 512
    assert set(PRESET_SPECS) <= set(back.ranges) | {"angle_jitter"}


def test_every_mask_pixel_lies_on_a_darker_line():
    pr = load_preset("m2")
    checked = 0
    for seed in range(12):
        p = sample_params(pr, seed, size=160)
        if seed % 3 == 0:  # include the harshest drawing settings
            p = p.replace(line_profile="realistic", fringe=0.5, blur=1.5, line_noise=0.5, contrast_modulation=0.5)
        s = generate(p, seed)
        bg = _background_only(s)
        for m in s.masks:
            assert (s.image[m] < bg[m]).all()
            checked += int(m.sum())
    assert checked > 1000


def test_overlapping_dislocations_keep_both_masks():
    scene = Scene(64, 64, [Dislocation([[5, 5], [58, 58]], 0.4, 3.0), Dislocation([[5, 58], [58, 5]], 0.4, 3.0)])
    s = render_scene(scene, default_params(64), 1)
    assert len(s.masks) == 2
    assert s.masks[0][32, 32] and s.masks[1][32, 32]
    bg = _background_only(s)
    # at the crossing both darken: darker than either line alone
    one = render_scene(Scene(64, 64, scene.dislocations[:1]), default_params(64), 1).image
    assert s.image[32, 32] < one[32, 32] < bg[32, 32]


def test_slip_traces_are_drawn_but_never_in_masks():
    trace = SlipTrace([[0, 20], [100, 20]], 0.3, 2.0)
    dis = Dislocation([[50, 20], [52, 60], [50, 90]], 0.5, 3.0)
    p = default_params(100)
    s = render_scene(Scene(100, 100, [dis], [trace]), p, 2)
    no_trace = render_scene(Scene(100, 100, [dis]), p, 2)
    far = np.r_[0:40, 60:100]  # columns away from the dislocation
    assert (s.image[20, far] < no_trace.image[20, far]).all()  # the trace is visible
    assert not s.masks[:, :, far].any()  # and in no mask
    assert np.array_equal(s.masks, no_trace.masks)
    # a generated sample: no mask pixel farther than 3 px from its centre line
    g = generate(default_params(128), 8)
    for poly, m in zip(g.polylines, g.masks):
        yy, xx = np.nonzero(m)
        d = np.min(np.hypot(xx[:, None] - poly[None, :, 0], yy[:, None] - poly[None, :, 1]), axis=1)
        assert d.max() <= 3.5


def test_dislocations_run_from_one_slip_trace_to_the_other():
    p = default_params(256)
    s = generate(p, 2)
    q = p.pileups[0]
    a = math.radians(q.angle)
    n = np.array([-math.sin(a), math.cos(a)])
    for d in s.dislocations:
        v = (d.support - [q.p0_x, q.p0_y]) @ n
        assert v[0] == pytest.approx(0, abs=1e-6) and v[-1] == pytest.approx(q.slip_width, abs=1e-6)


def test_perlin_background_is_the_papers_pipeline():
    p = default_params(128)
    rng = lambda k: np.random.default_rng(k)  # noqa: E731
    # without white noise and filters the result is exactly min-max normalised Perlin noise
    bare = p.replace(w_white=0.0, r_noise=0.0, s1=0.0, s2=0.0)
    b, rec = perlin_background(bare, rng(1), rng(2))
    assert b.dtype == np.float32 and b.min() == 0.0 and b.max() == 1.0 and rec["kind"] == "perlin"
    full, _ = perlin_background(p, rng(1), rng(2))
    assert 0 <= full.min() and full.max() <= 1 and np.abs(full - b).mean() > 0.01

    def corr(img, lag):
        a = img - img.mean()
        return float((a[:, lag:] * a[:, :-lag]).mean() / a.var())
    coarse, _ = perlin_background(bare.replace(lambda1=80.0, lambda2=80.0), rng(3), rng(4))
    fine, _ = perlin_background(bare.replace(lambda1=10.0, lambda2=10.0), rng(3), rng(4))
    assert corr(coarse, 8) > 0.8 > corr(fine, 8)


def test_paper_perlin_backend_needs_the_noise_package():
    try:
        import noise  # noqa: F401
    except ImportError:
        with pytest.raises(DislocError, match=r"pip install noise==1\.2\.2"):
            generate(default_params(32).replace(perlin_backend="paper"), 0)
    else:  # installed: the paper backend works
        assert generate(default_params(32).replace(perlin_backend="paper"), 0).image.shape == (32, 32)


def test_cubic_spline_matches_scipy():
    from scipy.interpolate import CubicSpline

    rng = np.random.default_rng(0)
    for n in (3, 4, 7):
        s = np.concatenate([[0], np.cumsum(rng.random(n - 1) + 0.2)])
        y = rng.random((n, 2))
        t = np.linspace(0, s[-1], 41)
        assert np.allclose(cubic_spline(s, y, t), CubicSpline(s, y, axis=0)(t), atol=1e-9)


def test_changing_geometry_keeps_the_background():
    p = default_params(96)
    a = generate(p, 9)
    b = generate(p.replace(pileups=()), 9)
    assert len(b.masks) == 0
    far = ~a.masks.any(axis=0)
    assert np.mean(a.image[far] == b.image[far]) > 0.5  # same texture and noise away from the lines


def test_preview_renders_fast_enough():
    p = sample_params("m2", 1)
    generate(p, 1)
    t = time.perf_counter()
    generate(p, 1)
    assert time.perf_counter() - t < 0.5  # typically ~0.02 s; generous on a shared machine


def test_glide_video_moves_the_pileup_and_keeps_identity():
    from core.synth.video import make_glide_video

    frames = make_glide_video(3, seed=2, size=96, shift_px=3.0)
    assert len(frames) == 3
    k0 = frames[0].record["kept"]
    assert k0 and frames[1].record["kept"] == k0
    a = math.radians(frames[0].params.pileups[0].angle)
    t = np.array([math.cos(a), math.sin(a)])
    d0 = frames[0].dislocations[0].support
    d2 = frames[2].dislocations[0].support
    assert float(((d2 - d0) @ t).mean()) == pytest.approx(2 * 3.0 * 0.85, rel=0.05)  # slowest (first) one
    assert not np.array_equal(frames[0].image, frames[1].image)
