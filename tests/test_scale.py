"""Line-width measurement, the automatic scale factor, and the local normalisation."""
import numpy as np
import pytest
import torch

from core.learn.model import normalize
from core.analysis.scale import auto_scale, measure_line_width
from core.synth import Dislocation, Scene, default_params, render_scene


def _lines(width: float, size: int = 192) -> np.ndarray:
    sc = Scene(size, size, [Dislocation([[10, 15 + 35 * k], [size / 2, 40 + 35 * k], [size - 10, 25 + 35 * k]],
                                        0.4, width) for k in range(5)])
    return render_scene(sc, default_params(size).replace(line_profile="gaussian", bg_contrast=0.2), 1).image


def test_measured_width_grows_with_the_drawn_width():
    w = [measure_line_width(_lines(x)) for x in (2.5, 4.0, 6.0, 9.0)]
    assert all(a < b for a, b in zip(w, w[1:]))
    # twice as wide measures about twice as wide (what auto_scale relies on)
    assert measure_line_width(_lines(8.0)) / measure_line_width(_lines(4.0)) == pytest.approx(2.0, rel=0.3)


def test_flat_or_tiny_frames_have_no_width():
    assert measure_line_width(np.full((64, 64), 0.5, np.float32)) is None
    assert measure_line_width(np.zeros((8, 8), np.float32)) is None


def test_auto_scale():
    assert auto_scale(4.0, 2.0) == 2.0
    assert auto_scale(4.0, 4.3) == 1.0  # within 15 %: left alone
    assert auto_scale(4.0, None) == 1.0 and auto_scale(None, 3.0) == 1.0
    assert auto_scale(40.0, 1.0) == 4.0 and auto_scale(1.0, 40.0) == 0.25  # clipped


def test_local_normalisation_flattens_illumination_and_keeps_lines():
    img = _lines(3.0, 256)
    ramp = np.linspace(0.3, 1.0, 256, dtype=np.float32)[None, :]
    lit = img * ramp  # the same lines under a strong illumination gradient
    a = normalize(img, {"kind": "local", "sigma_bg": 12.0, "sigma_std": 24.0, "eps": 0.05})
    b = normalize(lit, {"kind": "local", "sigma_bg": 12.0, "sigma_std": 24.0, "eps": 0.05})
    # the gradient is gone: left and right halves look alike after normalisation
    assert abs(float(b[:, :100].std()) - float(b[:, 156:].std())) < 0.15
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    # numpy and torch give the same numbers (training uses tensors, prediction arrays)
    t = normalize(torch.from_numpy(lit[None, None]), {"kind": "local"}).numpy()[0, 0]
    assert np.allclose(t, normalize(lit, {"kind": "local"}), atol=1e-5)
