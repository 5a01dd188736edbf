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


@pytest.fixture(scope="module")
def shipped_with_width(tmp_path_factory):
    """The shipped model, with the line width of its training images in the header if it lacks one."""
    from core.analysis.scale import LINE_WIDTH_KEY, typical_line_width
    from core.learn.model import load_checkpoint, save_checkpoint
    from core.shipped import default_model_path
    from core.synth import generate, sample_params

    model, header = load_checkpoint(default_model_path())
    if not header.get(LINE_WIDTH_KEY):
        preset = (header.get("training_data") or [{}])[0].get("manifest", {}).get("preset", "m2")
        header = {**header, LINE_WIDTH_KEY: typical_line_width(
            generate(sample_params(preset, s), s).image for s in range(8))}
    path = tmp_path_factory.mktemp("model") / "m.pt"
    save_checkpoint(path, model, header)
    return path


def _found(rows_xy: list, truth: list, tol: float = 3.0) -> float:
    """Share of true lines with >= 70 % of their points within ``tol`` px of one predicted spline."""
    hits = 0
    for t in truth:
        best = 0.0
        for p in rows_xy:
            d = np.min(np.hypot(t[:, None, 0] - p[None, :, 0], t[:, None, 1] - p[None, :, 1]), axis=1)
            best = max(best, float(np.mean(d <= tol)))
        hits += best >= 0.7
    return hits / len(truth)


def test_a_video_shrunk_twice_segments_as_well_with_scale_auto(shipped_with_width, tmp_path):
    import tifffile

    from core.analysis.results import ResultIndex
    from core.analysis.segment import segment_video
    from core.analysis.segmentconfig import SegmentConfig
    from core.synth.video import make_glide_video

    frames = make_glide_video(n_frames=2, seed=11, size=384)
    big = np.stack([f.image for f in frames])
    small = big.reshape(2, 192, 2, 192, 2).mean(axis=(2, 4))  # the same scene at half the magnification
    tifffile.imwrite(tmp_path / "big.tif", (big * 65535).astype(np.uint16), photometric="minisblack")
    tifffile.imwrite(tmp_path / "small.tif", (small * 65535).astype(np.uint16), photometric="minisblack")
    runs = {}
    for name, scale in (("big", 1.0), ("big_auto", "auto"), ("small_auto", "auto"), ("small", 1.0)):
        f = name.split("_")[0]
        res = segment_video(tmp_path / f"{f}.tif", shipped_with_width, tmp_path / name,
                            SegmentConfig(scale=scale, batch_size=2))
        runs[name] = (res, ResultIndex(tmp_path / name))
    # auto resamples the shrunk video twice as much as the original
    assert runs["small_auto"][0].scale / runs["big_auto"][0].scale == pytest.approx(2.0, rel=0.3)
    score = {}
    for name, (res, idx) in runs.items():
        k = 1.0 if name.startswith("big") else 0.5  # the truth in this video's pixels
        per_frame = [_found(idx.frame_curves(j)[1], [p * k + (k - 1) * 0.5 for p in frames[j].polylines],
                            tol=3.0 * k) for j in range(2)]
        score[name] = float(np.mean(per_frame))
    assert score["big"] >= 0.8
    assert score["small_auto"] >= score["big"] - 0.15  # as well as the original, within one line in seven
    assert score["small"] < score["small_auto"]  # and it is the resampling that does it
