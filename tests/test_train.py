"""Training runs on tiny real datasets: learning, run folder, cancel, resume, bad input."""
import json

import numpy as np
import pytest
import torch

from core.errors import Cancelled, DislocError
from core.io import dataset
from core.learn.model import load_checkpoint, read_checkpoint
from core.learn.runfolder import read_history
from core.learn.train import is_out_of_memory, out_of_memory_error, train
from core.learn.trainconfig import TrainConfig

from ._lines import make_labelme_folder, make_line_dataset

# Epochs of the module's trained run. Its test loss is noisy for the first epochs (BatchNorm statistics of
# a few steps) and, at 8, fell by less than 0.1 on one CPU and by more on another; at 12 it has fallen by ~0.4.
EPOCHS = 12


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("data")
    return {"train": make_line_dataset(root / "train", n=12, size=64, seed=0),
            "test": make_line_dataset(root / "test", n=4, size=64, seed=1)}


def cfg(d, **kw):
    base = dict(data=(str(d["train"]),), test=(str(d["test"]),), image_size=64, n_masks=4, batch_size=4,
                epochs=1, lr=3e-3, threads=2, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    reports = []
    result = train(cfg(data, epochs=EPOCHS), out, on_progress=reports.append)
    return out, result, reports


# ------------------------------------------------------------------ config

def test_config_json_roundtrip_and_errors(tmp_path):
    c = TrainConfig(data=("a",), test=("b",), epochs=3, augment=("flip",))
    c.save(tmp_path / "c.json")
    back = TrainConfig.load(tmp_path / "c.json")
    assert back == c and isinstance(back.data, tuple)
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["schema_version"] == 1
    d["learning_rate"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(DislocError, match="bad.json: unknown key 'learning_rate'"):
        TrainConfig.load(tmp_path / "bad.json")
    with pytest.raises(DislocError, match="image_size"):
        TrainConfig(data=("a",), image_size=100)
    with pytest.raises(DislocError, match="encoder"):
        TrainConfig(data=("a",), encoder="vgg")
    with pytest.raises(DislocError, match="no training data"):
        TrainConfig()


# ------------------------------------------------------------------ learning

def test_loss_falls_and_the_run_folder_is_complete(trained):
    out, result, reports = trained
    hist = read_history(out / "history.csv")
    assert [r["epoch"] for r in hist] == list(range(1, EPOCHS + 1))
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.1
    assert hist[-1]["test_loss"] < hist[0]["test_loss"] - 0.1
    assert set(hist[0]) == {"epoch", "train_loss", "test_loss", "metric", "duplicates", "iou", "dropped", "seconds",
                            "recall", "length_score", "on_line"}
    assert np.isnan(hist[0]["recall"])  # traced-line scores are for annotated test frames only
    assert (out / "config.json").exists() and TrainConfig.load(out / "config.json").epochs == EPOCHS
    best_model, best = load_checkpoint(out / "best.pt")
    assert best["epoch"] == result.best_epoch and best["best_metric"] == pytest.approx(result.best_metric)
    assert result.best_metric == pytest.approx(max(r["metric"] for r in hist))
    assert best["training_data"][0]["kind"] == "dataset" and best["training_data"][0]["n_samples"] == 12
    assert best["training_data"][0]["manifest"]["generator"] == "tests/_lines.py"
    last = read_checkpoint(out / "last.pt")
    assert last["header"]["epoch"] == EPOCHS and "optimizer" in last and len(last["header"]["history"]) == EPOCHS
    # progress: one report per step, then one per epoch with the test figures
    steps = [p for p in reports if "loss" in p.metrics]
    epochs = [p for p in reports if "metric" in p.metrics]
    assert len(steps) == EPOCHS * 3 and len(epochs) == EPOCHS
    assert steps[-1].step == steps[-1].total == EPOCHS * 3
    assert {"train_loss", "test_loss", "duplicates", "iou", "dropped"} <= set(epochs[0].metrics)


def test_cancel_keeps_best_and_last(data, tmp_path):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 5  # in the middle of epoch 2

    with pytest.raises(Cancelled):
        train(cfg(data, epochs=3), tmp_path, should_stop=stop)
    assert (tmp_path / "best.pt").exists()
    h = read_checkpoint(tmp_path / "last.pt")["header"]
    assert h["epoch"] == 1 and h["partial_epoch"] is True
    assert len(read_history(tmp_path / "history.csv")) == 1


def test_last_pt_is_written_at_most_once_a_minute_and_always_after_the_last_epoch(data, tmp_path, monkeypatch):
    import core.learn.train as training

    monkeypatch.setattr(training, "SAVE_LAST_EVERY_S", 1e9)  # "a minute" that never passes within the run
    for out, kw in ((tmp_path / "epochs", {}), (tmp_path / "budget", {"epochs": 100, "max_minutes": 1e-4})):
        seen = []

        def report(p, out=out):
            if p.message.endswith("done"):
                seen.append((p.metrics["epoch"], (out / "last.pt").exists()))

        train(cfg(data, **{"epochs": 3, **kw}), out, on_progress=report)
        last = seen[-1][0]
        assert seen == [(e, e == last) for e in range(1, last + 1)]  # only the last epoch wrote it
        assert read_checkpoint(out / "last.pt")["header"]["epoch"] == last
    assert last == 1  # the budget was spent after the first epoch


def test_resume_continues_the_epoch_count(data, tmp_path):
    train(cfg(data, epochs=1), tmp_path)
    r = train(cfg(data, epochs=2, resume=True), tmp_path)
    assert [row["epoch"] for row in r.history] == [1, 2]
    assert read_checkpoint(tmp_path / "last.pt")["header"]["epoch"] == 2
    assert [row["epoch"] for row in read_history(tmp_path / "history.csv")] == [1, 2]
    with pytest.raises(DislocError, match="no last.pt"):
        train(cfg(data, resume=True), tmp_path / "elsewhere")
    # a new run into the same folder (without resume) would overwrite its checkpoints: refused, nothing touched
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(DislocError, match="already holds a training run.*--resume"):
        train(cfg(data, epochs=1), tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(data, tmp_path):
    train(cfg(data, epochs=1), tmp_path)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(DislocError, match="diverged.*lower --lr"):
        train(cfg(data, epochs=3, resume=True, lr=1e30), tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == before
    model, h = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ------------------------------------------------------------------ bad input

def test_empty_and_broken_dataset_folders_say_what_to_do(data, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DislocError, match="not a dataset folder.*disloc synth"):
        train(cfg(data, data=(str(tmp_path / "empty"),)), tmp_path / "r1")
    dataset.write_manifest(tmp_path / "nosamples", {"image_size": 64})
    with pytest.raises(DislocError, match="no finished samples"):
        train(cfg(data, data=(str(tmp_path / "nosamples"),)), tmp_path / "r2")
    bad = make_line_dataset(tmp_path / "bad", n=2, size=64, seed=5)
    dataset.save_masks(dataset.sample_paths(bad, "s000001").masks, np.zeros((1, 32, 32), bool))
    with pytest.raises(DislocError, match="s000001.*regenerate"):
        train(cfg(data, data=(str(bad),), test=()), tmp_path / "r3")


def test_other_sizes_and_too_many_dislocations_are_handled(data, tmp_path):
    big = make_line_dataset(tmp_path / "big", n=3, size=96, lines=(3, 3), seed=2)
    small = make_line_dataset(tmp_path / "small", n=3, size=40, lines=(3, 3), seed=3)
    r = train(cfg(data, data=(str(big), str(small)), test=(str(small),), n_masks=2, augment=()), tmp_path / "r")
    assert r.history[0]["dropped"] >= 3  # every 40 px frame has 3 lines for 2 masks
    assert np.isfinite(r.history[0]["train_loss"]) and np.isfinite(r.history[0]["metric"])


def test_fine_tuning_from_a_checkpoint_on_labelme_frames(trained, tmp_path):
    out, _, _ = trained
    ann = make_labelme_folder(tmp_path / "ann", n=3, size=64)
    c = TrainConfig(annotations=(str(ann),), test=(str(ann),), init=str(out / "best.pt"), encoder="resnet18",
                    n_masks=9, image_size=64, epochs=1, batch_size=3, threads=2, line_width=2.0)
    r = train(c, tmp_path / "ft")
    _, h = load_checkpoint(tmp_path / "ft" / "best.pt")
    assert h["encoder"] == "tu-mobilenetv2_100" and h["n_masks"] == 4  # the network of --init
    assert h["training_data"][0]["kind"] == "annotations" and h["training_data"][0]["n_samples"] == 3
    assert h["line_width"] == 2.0 and np.isfinite(r.history[0]["metric"])


def test_out_of_memory_becomes_advice():
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                         "can't allocate memory: you tried to allocate 9 bytes"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    msg = str(out_of_memory_error(TrainConfig(data=("a",), batch_size=8), "cpu"))
    assert "--batch-size 4" in msg


# ------------------------------------------------------------------ augmentation and data

def test_geometric_augmentation_moves_image_and_masks_together():
    from core.learn.augment import augment, fit_to_size

    from ._lines import make_frame

    rng = np.random.default_rng(7)
    img, masks, _ = make_frame(rng, 64, 3, width=3.0)
    for seed in range(8):
        r = np.random.default_rng(seed)
        a_img, a_masks = augment(img, masks, r, ("flip", "rot90"))
        # lines are the dark pixels: they stay under their masks after any flip/rotation
        assert a_img[a_masks.any(0)].mean() < a_img[~a_masks.any(0)].mean() - 0.1
        assert a_masks.sum() == masks.sum()
        p_img, _ = augment(img, masks, np.random.default_rng(seed), ("noise", "brightness", "contrast", "equalize"))
        assert p_img.dtype == np.float32 and 0 <= p_img.min() and p_img.max() <= 1
    c_img, c_masks = fit_to_size(img, masks, 32, np.random.default_rng(0))
    assert c_img.shape == (32, 32) and c_masks.shape == (3, 32, 32)
    p_img, p_masks = fit_to_size(img[:40, :50], masks[:, :40, :50], 64, None)
    assert p_img.shape == (64, 64) and p_masks[:, :12].sum() == 0  # padding holds no dislocation


def test_crops_on_lines_find_a_small_crowded_corner_more_often():
    from core.learn.augment import fit_to_size

    # a 400 x 400 frame whose only lines lie in a 40 x 40 corner: a random 64 px crop rarely holds them
    img = np.full((400, 400), 0.6, np.float32)
    masks = np.zeros((3, 400, 400), np.uint8)
    for k in range(3):
        masks[k, 350 + 10 * k, 350:390] = 1
        img[350 + 10 * k, 350:390] = 0.3

    def share_with_lines(on_lines):
        hits = 0
        for seed in range(200):
            c_img, c_masks = fit_to_size(img, masks, 64, np.random.default_rng(seed), on_lines)
            assert c_img.shape == (64, 64) and c_masks.shape == (3, 64, 64)
            assert (c_img[c_masks.any(0)] < 0.5).all()  # image and masks cut at the same place
            hits += bool(c_masks.any())
        return hits / 200

    anywhere, half, always = share_with_lines(0.0), share_with_lines(0.5), share_with_lines(1.0)
    assert anywhere < 0.1 and always == 1.0 and 0.35 < half < 0.75
    # frames without lines, and centred crops (tests), are cut as before
    empty = np.zeros((0, 400, 400), np.uint8)
    assert fit_to_size(img, empty, 64, np.random.default_rng(1), 1.0)[0].shape == (64, 64)
    a, _ = fit_to_size(img, masks, 64, None, 1.0)
    assert np.array_equal(a, img[168:232, 168:232])


def test_keep_longest_drops_specks_and_keeps_the_n_longest():
    from core.learn.traindata import keep_longest

    m = np.zeros((4, 20, 40), bool)
    m[0, 2, 0:10] = True   # 10 px
    m[1, 5, 0:30] = True   # 30 px
    m[2, 9, 0:3] = True    # a 3 px speck
    m[3, 12, 0:20] = True  # 20 px
    kept, dropped = keep_longest(m, 2)
    assert dropped == 1 and [int(k.sum()) for k in kept] == [30, 20]  # original order kept
    kept, dropped = keep_longest(m, 5)
    assert dropped == 0 and len(kept) == 3


def test_moving_average_of_weights_is_tested_kept_as_best_and_resumed(data, tmp_path):
    from core.learn.evaluate import score_source
    from core.learn.predict import Predictor
    from core.learn.traindata import open_source

    one, two = tmp_path / "one", tmp_path / "two"
    ema = dict(ema=0.5, precision="fp32")
    r = train(cfg(data, epochs=1, **ema), one)
    last, best = read_checkpoint(one / "last.pt"), read_checkpoint(one / "best.pt")
    raw, avg = last["state_dict"], last["ema"]
    weights = [k for k, v in raw.items() if v.is_floating_point() and "running" not in k]
    assert any(not torch.equal(raw[k], avg[k]) for k in weights)  # the average lags the last step
    assert all(torch.equal(best["state_dict"][k], avg[k].to(best["state_dict"][k].dtype)) for k in avg)
    # the epoch's test figures are those of the averaged weights (best.pt), not of the last step's
    c = cfg(data)
    s = score_source(Predictor(one / "best.pt", precision="fp32"), open_source(data["test"]), loss=c.loss,
                     empty_weight=c.empty_weight)
    assert float(np.mean(s.losses)) == pytest.approx(r.history[0]["test_loss"], abs=1e-5)
    # resuming carries the average on: one epoch + one resumed = two in one go
    train(cfg(data, epochs=2, resume=True, **ema), one)
    train(cfg(data, epochs=2, **ema), two)
    a, b = read_checkpoint(one / "last.pt"), read_checkpoint(two / "last.pt")
    assert all(torch.allclose(a["state_dict"][k], b["state_dict"][k], atol=1e-6) for k in weights)
    assert all(torch.allclose(a["ema"][k], b["ema"][k], atol=1e-6) for k in weights)
    with pytest.raises(DislocError, match="ema"):
        TrainConfig(data=("a",), ema=1.0)


def test_cosine_schedule_lowers_the_learning_rate_step_by_step_and_resumes(data, tmp_path):
    import math

    one, two, flat = tmp_path / "one", tmp_path / "two", tmp_path / "flat"
    cos = dict(lr_schedule="cosine", steps_per_epoch=3, precision="fp32", lr=3e-3)
    train(cfg(data, epochs=2, **cos), one)
    lr_last = read_checkpoint(one / "last.pt")["optimizer"]["param_groups"][0]["lr"]
    # the sixth and last step (index 5 of 6) runs at lr * (1 + cos(pi * 5/6)) / 2
    assert lr_last == pytest.approx(3e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 6)), rel=1e-9)
    train(cfg(data, epochs=2, **{**cos, "lr_schedule": "constant"}), flat)
    assert read_checkpoint(flat / "last.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(3e-3)
    # resumed, the schedule goes on from the run's step, over the epochs the resumed run is given
    train(cfg(data, epochs=1, **cos), two)
    assert read_checkpoint(two / "last.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(
        3e-3 * 0.5 * (1 + math.cos(math.pi * 2 / 3)), rel=1e-9)
    train(cfg(data, epochs=2, resume=True, **cos), two)
    assert read_checkpoint(two / "last.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr_last, rel=1e-9)
    with pytest.raises(DislocError, match="lr_schedule"):
        TrainConfig(data=("a",), lr_schedule="step")
