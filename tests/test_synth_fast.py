"""The fast renderer: the same filters as the exact one within small tolerances, chosen per sample."""
import json

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import ndtri

from core.synth import generate, load_preset, sample_from_json, sample_params
from core.synth.filters import _normal_table, gauss32, uniform32
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
