"""The shipped model loads and still segments: a broken export, a wrong
normalisation or a damaged file fails here."""
import numpy as np
import pytest

from core.analysis.postprocess import postprocess
from core.learn.metrics import evaluate_image, summarize
from core.errors import DislocError
from core.shipped import default_model_path, finetune_start_path, realistic_model_path, resolve_model
from core.synth import generate, sample_params

# resources/models/README.md gives this model's length metric on these six
# images (fp32); the floor leaves room for BLAS differences between machines
# but not for a broken model (an untrained net scores 0.02 here).
CARD_METRIC_ON_THESE_IMAGES = 0.755  # network masks, measured 2026-11-25, fp32
CARD_CLEAN_METRIC_ON_THESE_IMAGES = 0.745  # after core.analysis.postprocess with its defaults (split 1 px, joins)
FLOOR_MARGIN = 0.08


def _images():
    return [generate(sample_params("m2", seed=s, size=256), s) for s in (501, 502, 503, 504, 505, 506)]


@pytest.fixture(scope="module")
def predictor():
    from core.learn.predict import Predictor

    path = default_model_path()
    assert path.is_file(), f"{path} is missing: the package must ship its default model"
    return Predictor(path, precision="fp32", batch_size=2)


def test_shipped_model_header_is_complete(predictor):
    h = predictor.header
    assert h["format"] == "disloc-checkpoint" and h["n_masks"] == 20
    assert h["encoder"] and h["history"] and h["training_data"]
    assert default_model_path().stat().st_size < 25e6


def test_shipped_model_scores_above_the_card_floor(predictor):
    samples = _images()
    probs = predictor.predict(np.stack([s.image for s in samples]))
    assert probs.shape == (6, 20, 256, 256) and np.isfinite(probs).all()
    scores = [evaluate_image(p, s.masks) for p, s in zip(probs, samples)]
    metric = summarize(scores)["metric"]
    assert metric >= CARD_METRIC_ON_THESE_IMAGES - FLOOR_MARGIN, metric
    clean = []
    for p, s in zip(probs, samples):
        clean.append(evaluate_image(postprocess(p).masks.astype(np.float32), s.masks))
    metric = summarize(clean)["metric"]
    assert metric >= CARD_CLEAN_METRIC_ON_THESE_IMAGES - FLOOR_MARGIN, metric


def test_shipped_model_for_real_frames_loads_and_is_named_by_the_model_arguments(tmp_path, monkeypatch):
    from core.learn.predict import Predictor

    path = realistic_model_path()
    assert path.is_file() and path.stat().st_size < 25e6
    p = Predictor(path, precision="fp32", batch_size=1)
    h = p.header
    assert h["weights_dtype"] == "float16" and h["normalization"]["kind"] == "local"
    assert any(d.get("manifest", {}).get("preset") == "realistic" for d in h["training_data"])
    img = generate(sample_params("realistic", seed=3, size=128).replace(aspect=1.0), 3).image
    probs = p.predict(img)
    assert probs.shape == (1, 20, 128, 128) and np.isfinite(probs).all() and probs.max() > 0.5  # it finds lines
    # fine-tuning starts from it; --model names either shipped model, a file of that name wins
    assert finetune_start_path() == path
    assert resolve_model("realistic") == path and resolve_model(None) == default_model_path()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "realistic").write_bytes(b"x")
    assert resolve_model("realistic").resolve() == tmp_path / "realistic"
    missing = tmp_path / "none.pt"
    with pytest.raises(DislocError, match="not installed"):
        resolve_model(None, default=missing)
