"""The fast renderer: the same fields and filters as the exact one within small tolerances, chosen per sample."""
import json

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import ndtri

from core.synth import generate, load_preset, sample_from_json, sample_params
from core.synth.fields import line_field, line_fields_fast, segment_fields, segment_fields_fast
from core.synth.filters import _normal_table, gauss32, uniform32
from core.synth.geometry import Dislocation, centerlines_fast
from core.synth.params import SynthParams


@pytest.mark.parametrize("shape,sigma", [((64, 80), 0.3), ((64, 80), 0.7), ((50, 40), 1.5), ((64, 64), 2.0),
                                         ((12, 9), 5.0)])
def test_gauss32_is_scipys_gaussian_within_a_thousandth(shape, sigma):
    img = np.random.default_rng(1).random(shape, dtype=np.float32)
    ref = ndimage.gaussian_filter(img.astype(np.float64), sigma, mode="reflect")
    out = gauss32(img, sigma)
    assert out.dtype == np.float32 and out.shape == shape
    assert np.abs(out - ref).max() < 2e-3
    flat = np.full(shape, 0.4, np.float32)
    assert np.allclose(gauss32(flat, sigma), 0.4, atol=1e-6)  # the kernel sums to 1


def test_the_normal_table_is_scipys_quantiles():
    p = (np.arange(65536) + 0.5) / 65536.0
    assert np.array_equal(_normal_table(), ndtri(p).astype(np.float32))


def test_uniform32_fills_the_open_interval_evenly():
    x = uniform32(np.random.default_rng(0), (400, 500))
    assert x.dtype == np.float32 and -1 < x.min() and x.max() < 1
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1 / np.sqrt(3)) < 0.01


def _random_polylines(rng, n, height, width):
    lines = []
    for _ in range(n):
        p0 = rng.uniform(-20, [width + 20, height + 20])
        ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.25, 40))  # bends, some sharp
        steps = 3.0 * np.stack([np.cos(ang), np.sin(ang)], 1)
        lines.append(np.concatenate([[p0], p0 + np.cumsum(steps, 0)]))
    lines.append(np.array([[10.0, 10.0], [14.0, 13.0]]))  # one segment
    lines.append(np.array([[5.0, 5.0], [20.0, 5.0], [5.0, 5.2]]))  # a hairpin
    return lines


def test_line_fields_fast_finds_line_fields_pixels():
    rng = np.random.default_rng(3)
    h, w = 90, 120
    lines = _random_polylines(rng, 12, h, w)
    radii = list(rng.uniform(1.0, 15.0, len(lines)))
    for poly, radius, fast in zip(lines, radii, line_fields_fast(lines, radii, h, w)):
        exact = line_field(poly, radius, h, w)
        if exact is None:
            assert fast is None
            continue
        order = np.argsort(fast.idx)
        assert np.array_equal(fast.idx[order], exact.idx)
        assert np.abs(fast.dist[order] - exact.dist).max() <= 1 / 4096 + 1e-7
        # where a joint is the nearest point, both segments meeting there are equally near: either may be named
        assert np.abs(fast.seg[order] - exact.seg).max() <= 1


def test_segment_fields_fast_finds_segment_fields_pixels():
    rng = np.random.default_rng(4)
    h, w = 100, 130
    p = rng.uniform(-30, 160, (40, 2))
    q = p + rng.normal(0, 60, (40, 2))
    q[5] = p[5]  # a segment of length 0 draws nothing
    q[6] = p[6] + [0, 40]  # vertical
    radii = rng.uniform(1.0, 6.0, 40)
    e_idx, e_dist, e_seg = segment_fields(list(zip(p, q)), list(radii), h, w)
    f_idx, f_dist, f_seg = segment_fields_fast(p, q, radii, h, w)
    exact = dict(zip(zip(e_idx.tolist(), e_seg.tolist()), e_dist.tolist()))
    fast = dict(zip(zip(f_idx.tolist(), f_seg.tolist()), f_dist.tolist()))
    assert len(fast) == len(f_idx)  # no pixel twice for one segment
    assert set(fast) == set(exact)
    assert max(abs(fast[k] - exact[k]) for k in exact) <= 1 / 4096 + 1e-7


def test_centerlines_fast_are_the_centerlines():
    rng = np.random.default_rng(5)
    dis = [Dislocation(rng.uniform(0, 200, (k, 2))) for k in (2, 3, 4, 5, 8)]
    dis += [Dislocation([[0, 0], [0, 0], [30, 10], [60, 0]]), Dislocation([[7, 7], [7, 7]]),
            Dislocation([[3, 3], [40, 50], [90, 20]], kind="polyline")]
    for d, fast in zip(dis, centerlines_fast(dis, 1.5, 3.0)):
        for exact, f in zip(d.centerlines(1.5, 3.0), fast):
            assert exact.shape == f.shape and np.abs(exact - f).max() < 1e-8


def test_the_renderer_round_trips_through_json_and_only_fast_is_written():
    p = sample_params("m2", 2, size=128)
    assert p.renderer == "exact" and "renderer" not in p.to_dict()
    fast = p.replace(renderer="fast")
    d = fast.to_dict()
    assert d["renderer"] == "fast" and SynthParams.from_dict(json.loads(json.dumps(d))) == fast
    s = generate(fast, 2)
    r = sample_from_json(json.loads(json.dumps(s.to_json())))
    assert r.params.renderer == "fast"
    assert np.array_equal(r.image, s.image) and np.array_equal(r.masks, s.masks)


def test_presets_choose_their_renderer():
    assert sample_params("realistic", 0).renderer == "fast"
    assert sample_params("m2", 0).renderer == "exact"
    assert load_preset("realistic").ranges["renderer"] == "fast"


def test_fast_and_exact_draw_the_same_lines_and_the_same_kind_of_image():
    p = sample_params("realistic", 6, size=160)
    fast, exact = generate(p, 6), generate(p.replace(renderer="exact"), 6)
    # the same geometry and masks (a pixel on a mask's edge may flip where distances differ by a quantum)
    assert len(fast.masks) == len(exact.masks) > 0
    assert (fast.masks != exact.masks).sum() <= 0.002 * exact.masks.sum()
    # other noise draws, the same statistics
    assert abs(float(fast.image.mean() - exact.image.mean())) < 0.01
    assert abs(float(fast.image.std() - exact.image.std())) < 0.01
    on = exact.masks.any(0)
    assert abs(float(fast.image[on].mean() - exact.image[on].mean())) < 0.01


def test_fast_background_has_the_exact_texture_and_noise_strength():
    """The same Perlin texture (same draws, interpolated), one noise of the exact pipeline's variance and grain."""
    from core.synth.background import make_background

    for s in (1, 4, 9):
        p = sample_params("realistic", s)
        exact, _ = make_background(p.replace(renderer="exact"), np.random.default_rng(s), np.random.default_rng(7),
                                   p.height)
        fast, _ = make_background(p, np.random.default_rng(s), np.random.default_rng(7), p.height)
        assert fast.shape == exact.shape == (p.height, p.size) and fast.dtype == np.float32
        smooth_e, smooth_f = ndimage.gaussian_filter(exact, 4), ndimage.gaussian_filter(fast, 4)
        assert np.corrcoef(smooth_e.ravel(), smooth_f.ravel())[0, 1] > 0.98  # the same texture
        assert abs(fast.std() / exact.std() - 1) < 0.08
        grain_e, grain_f = np.diff(exact, axis=0).std(), np.diff(fast, axis=0).std()
        assert abs(grain_f / grain_e - 1) < 0.35  # pixel-to-pixel noise of the same kind
