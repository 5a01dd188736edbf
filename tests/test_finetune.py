"""Fine-tuning on a few annotated frames: split, held-out estimate, the finetune and evaluate commands."""
import json
import subprocess
import sys

import numpy as np
import pytest

from core.errors import DislocError
from core.io.fileio import atomic_write_png
from core.io.labelme import LabelFile, read_labelme, write_labelme
from core.learn.finetune import finetune, split_annotations
from core.learn.runfolder import read_history, read_run
from core.synth import default_params, generate

SIZE = 96
TINY = {"steps_per_epoch": 2, "batch_size": 2, "image_size": 96}


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    """Five annotated 96 px frames (images beside labelme files, image paths relative)."""
    d = tmp_path_factory.mktemp("annotated")
    for i in range(5):
        s = generate(default_params(SIZE), 60 + i)
        atomic_write_png(d / f"f{i}.png", s.image_u8())
        write_labelme(d / f"f{i}.json", LabelFile.from_polylines(s.polylines, f"f{i}.png", SIZE, SIZE))
    return d


def test_annotated_frames_are_decoded_once_and_give_the_same_crops_as_read_from_disk(annotated, tmp_path):
    from core.learn.traindata import SegmentationSet, open_source

    src = open_source(annotated, "annotations")
    kw = dict(size=64, n_masks=20, augment_names=("flip", "rot90", "noise", "gamma", "blur"), seed=3)
    cached, uncached = SegmentationSet([src], **kw), SegmentationSet([src], cache_bytes=0, **kw)
    for epoch in range(3):
        cached.set_epoch(epoch)
        uncached.set_epoch(epoch)
        for i in range(len(src.keys)):
            a, b = cached[i], uncached[i]
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert len(cached._cache) == len(src.keys) and cached.cached_bytes > 0
    assert not uncached._cache and uncached.cached_bytes == 0
    # A budget too small for a second frame keeps only the first; the others are read each time.
    one = cached._cache[(0, src.keys[0])]
    small = SegmentationSet([src], cache_bytes=one[0].nbytes + one[1].nbytes, **kw)
    for i in range(len(src.keys)):
        small[i]
    assert list(small._cache) == [(0, src.keys[0])]


def test_split_holds_back_about_one_in_five_spread_over_the_video():
    files = [f"frame_{i:03d}" for i in range(10)]
    train, hold = split_annotations(files)
    assert len(hold) == 2 and set(train) | set(hold) == set(files) and not set(train) & set(hold)
    assert hold[0] not in (files[0], files[-1]) and hold[1] != files[-1]  # spread, away from the ends
    assert len(split_annotations(files[:3])[1]) == 1
    assert split_annotations(files[:1]) == (files[:1], [])


def test_the_estimate_averages_the_runs_later_epochs_not_its_lucky_maximum():
    from core.learn.finetune import ESTIMATE_WINDOW as w
    from core.learn.finetune import held_out_estimate

    # epoch 20 is the maximum, lucky on ~30 held-out lines
    recall = [0.06, 0.2, 0.3, 0.36, 0.4, 0.38, 0.42, 0.4, 0.44, 0.41, 0.43, 0.39, 0.42, 0.45, 0.42, 0.44, 0.4,
              0.46, 0.43, 0.41, 0.6, 0.4, 0.42, 0.45]
    hist = [{"epoch": i, "recall": r, "length_score": 0.8, "on_line": 0.6} for i, r in enumerate(recall)]
    end = len(recall) - 1
    est = held_out_estimate(hist, 20)
    assert est["recall"] == pytest.approx(np.mean(recall[end // 2 + 1:])) and est["recall"] < 0.46
    assert est["epochs"] == (end // 2 + 1, end)
    assert held_out_estimate(hist, end)["recall"] == pytest.approx(np.mean(recall[end // 2 + 1:]))
    # a chosen epoch early in the run: from w epochs before it to the end, never the start
    assert held_out_estimate(hist, 8)["recall"] == pytest.approx(np.mean(recall[8 - w:]))
    assert held_out_estimate(hist, 2)["recall"] == pytest.approx(np.mean(recall[1:]))
    assert held_out_estimate(hist, 0)["recall"] == 0.06  # the starting model kept: it did not change
    assert held_out_estimate(hist, None) is None
    assert 2 <= w <= 8


def test_finetune_chooses_by_held_out_recall_and_reports_it(annotated, tmp_path):
    rep = finetune([annotated], tmp_path / "run", minutes=0.001, recipe=TINY, threads=1)
    assert len(rep.train_frames) == 4 and len(rep.holdout_frames) == 1
    assert rep.best_path.exists() and rep.epochs >= 1
    # the split is in the run folder, with local image paths, the originals untouched
    held = tmp_path / "run" / "split" / "holdout" / rep.holdout_frames[0]
    assert read_labelme(held).image_path == held.with_suffix(".png").name and held.with_suffix(".png").exists()
    assert read_labelme(annotated / rep.holdout_frames[0]).image_path.startswith("f")
    hist = read_history(tmp_path / "run" / "history.csv")
    assert 0.0 <= hist[0]["recall"] <= 1.0 and 0.0 <= hist[0]["on_line"] <= 1.0
    assert hist[0]["epoch"] == 0 and 0.0 <= hist[0]["recall"] <= 1.0  # the starting model, scored first
    best = next(r for r in hist if r["epoch"] == rep.best_epoch)
    assert rep.estimate["recall"] == pytest.approx(best["recall"])
    assert rep.epochs == len(hist) - 1
    info = read_run(tmp_path / "run")  # the budget is spent: finished, not a stopped run to resume
    assert info.status == "finished" and not info.can_resume
    assert info.epochs_text == f"{rep.epochs} (0.001 min budget)" and info.best_text.startswith("recall ")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["select"] == "recall" and cfg["init"].endswith("realistic.pt")  # the shipped model for real frames
    # what varies between frames of one video, and nothing geometric (measured: flips and turns stall it)
    assert {"gamma", "blur", "noise"} <= set(cfg["augment"]) and not {"flip", "rot90", "scale"} & set(cfg["augment"])
    assert cfg["crop_on_lines"] == 0.5  # half the crops over a traced line (measured: more lines found)
    with pytest.raises(DislocError, match="already holds a training run"):
        finetune([annotated], tmp_path / "run", minutes=0.001, recipe=TINY)


def test_a_few_frames_get_all_the_recipes_steps_and_progress_counts_the_budget(annotated, tmp_path):
    seen = []
    finetune([annotated], tmp_path / "run", minutes=0.001, recipe={**TINY, "steps_per_epoch": 5}, threads=1,
             on_progress=seen.append)
    steps = [p for p in seen if "loss" in p.metrics and p.metrics["epoch"] == 1]
    # 4 training frames in batches of 2 are one pass of 2 steps; the recipe's 5 steps repeat them
    assert [p.metrics["step"] for p in steps] == [1, 2, 3, 4, 5]
    assert [p.metrics["epochs_done"] for p in steps] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(p.total == 1 and 0 <= p.step <= 1 and "/" not in p.message for p in seen)  # seconds of a 1 s budget


def test_the_budget_bar_reads_the_stopping_rules_clock_and_a_resumed_fine_tune_goes_on_from_it(annotated, tmp_path):
    from core.errors import Cancelled
    from core.learn.runfolder import load_config
    from core.learn.train import train

    epochs_seen = []

    def stop_after_two_epochs():
        return len(epochs_seen) >= 2

    def progress(p):
        if "seconds" in p.metrics and p.metrics.get("epoch", 0) >= 1:
            epochs_seen.append(p)

    with pytest.raises(Cancelled):
        finetune([annotated], tmp_path / "run", minutes=0.5, recipe=TINY, threads=1, on_progress=progress,
                 should_stop=stop_after_two_epochs)
    info = read_run(tmp_path / "run")
    assert info.status == "stopped" and info.can_resume
    spent = sum(r["seconds"] for r in read_history(tmp_path / "run" / "history.csv"))
    # the bar counts what budget_spent counts: the seconds of the epochs (and the starting model's test)
    assert epochs_seen[-1].step == int(spent) and epochs_seen[-1].total == 30
    assert epochs_seen[-1].message == "epoch 2 done"

    resumed = []
    cfg = load_config(tmp_path / "run").replace(resume=True, threads=1)
    train(cfg, tmp_path / "run", on_progress=resumed.append)
    assert resumed[0].total == 30 and resumed[0].step >= int(spent)  # the budget already spent is not refilled
    assert resumed[-1].step == resumed[-1].total == 30  # spent: the loop stopped on the bar's clock
    assert all("epochs_done" in p.metrics for p in resumed)
    assert read_run(tmp_path / "run").status == "finished"


def test_a_fine_tune_that_does_worse_on_the_held_out_frames_hands_back_the_starting_model(tmp_path):
    import torch

    from core.learn.model import load_checkpoint
    from core.shipped import shipped_model_path

    # default.pt finds these synthetic lines; an absurd learning rate wrecks it in its first steps, and the wreck
    # must not replace the model it started from
    annotated = tmp_path / "annotated"
    annotated.mkdir()
    for i in range(5):  # frames of 256 px: default.pt finds little in 96 px ones
        s = generate(default_params(256), 60 + i)
        atomic_write_png(annotated / f"f{i}.png", s.image_u8())
        write_labelme(annotated / f"f{i}.json", LabelFile.from_polylines(s.polylines, f"f{i}.png", 256, 256))
    start_path = shipped_model_path("default")
    rep = finetune([annotated], tmp_path / "run", model=start_path, minutes=0.001, recipe={**TINY, "lr": 0.5},
                   threads=1)
    hist = read_history(tmp_path / "run" / "history.csv")
    assert hist[0]["recall"] > 0 and hist[1]["recall"] < hist[0]["recall"]
    assert rep.best_epoch == 0 and rep.kept_start and "unchanged" in rep.kept_start_words()
    start, _ = load_checkpoint(start_path)
    best, _ = load_checkpoint(rep.best_path)
    for (k, a), b in zip(start.state_dict().items(), best.state_dict().values()):
        assert torch.equal(a.float(), b.float()), k


def test_a_failed_attempt_then_a_rerun_into_the_same_folder_uses_only_the_current_frames(annotated, tmp_path):
    import shutil

    ann = tmp_path / "ann"
    shutil.copytree(annotated, ann)
    (ann / "f1.png").write_bytes(b"garbage")
    (ann / "f3.png").chmod(0o444)  # a read-only image must not block copying it again
    with pytest.raises(DislocError, match="f1.png"):
        finetune([ann], tmp_path / "run", minutes=0.001, recipe=TINY, threads=1)
    for f in ("f1.json", "f1.png"):  # the user drops the damaged frame and runs the same command again
        (ann / f).unlink()
    rep = finetune([ann], tmp_path / "run", minutes=0.001, recipe=TINY, threads=1)
    split = tmp_path / "run" / "split"
    train = sorted(p.name for p in (split / "train").glob("*.json"))
    held = sorted(p.name for p in (split / "holdout").glob("*.json"))
    assert sorted(train + held) == ["f0.json", "f2.json", "f3.json", "f4.json"] and not set(train) & set(held)
    assert tuple(sorted(rep.train_frames)) == tuple(train) and rep.best_path.exists()


def test_finetune_without_annotations_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DislocError, match="annotate some frames first"):
        finetune([tmp_path / "empty"], tmp_path / "run")


def test_cli_finetune_then_evaluate_annotations(annotated, tmp_path):
    r = subprocess.run([sys.executable, "-m", "app", "finetune", str(annotated), "--out", str(tmp_path / "ft"),
                        "--minutes", "0.001", "--threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "expected on the rest of your video" in r.stdout and "recall" in r.stdout
    r = subprocess.run([sys.executable, "-m", "app", "evaluate", "--model", str(tmp_path / "ft" / "best.pt"),
                        "--annotations", str(annotated)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("traced lines of the annotated frames")[1]
    assert "recall" in table and "length_score" in table and "on_line" in table
    vals = [float(x) for x in table.split() if x.replace(".", "", 1).isdigit()]
    assert vals and all(0.0 <= v <= 1.0 for v in vals)


def test_cli_finetune_shows_its_time_budget_and_ctrl_c_says_what_is_kept(annotated, tmp_path):
    import signal

    out = tmp_path / "ft"
    p = subprocess.Popen([sys.executable, "-m", "app", "finetune", str(annotated), "--out", str(out),
                          "--minutes", "5", "--threads", "1"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # (a runner that starts the tests in the background hands Ctrl+C down ignored; as a user's terminal, not)
    seen = []
    try:
        for line in p.stderr:  # a line every 5 s without a terminal: seconds of the 300 s budget, not epochs
            seen.append(line)
            if "/300 " in line:
                break
        p.send_signal(signal.SIGINT)
        rest = p.communicate(timeout=120)[1]
    finally:
        p.kill()
    assert any(line.startswith("finetune, s of the budget [") for line in seen), seen
    assert p.returncode == 130
    assert "fine-tuning stopped" in rest and "another --out" in rest and "resume" not in rest
    assert ("best.pt" in rest) == (out / "best.pt").is_file()


def test_traced_lines_are_scored_at_one_width_whatever_width_the_masks_are_trained_at(tmp_path):
    """The held-out estimate reads as score_real.py does: labelme strips scored 3 px wide, not at the training width."""
    from core.analysis.linescore import SCORE_LINE_WIDTH
    from core.learn.evaluate import score_source
    from core.learn.predict import Predictor
    from core.learn.traindata import open_source
    from core.shipped import default_model_path
    from core.synth import sample_params

    for seed in (501, 502):
        s = generate(sample_params("m2", seed=seed, size=256), seed)
        atomic_write_png(tmp_path / f"f{seed}.png", s.image_u8())
        write_labelme(tmp_path / f"f{seed}.json", LabelFile.from_polylines(s.polylines, f"f{seed}.png", 256, 256))
    pred = Predictor(default_model_path(), precision="fp32", batch_size=2)
    src = open_source(tmp_path, "annotations")
    thin, wide = (score_source(pred, src, line_width=w, lines=True) for w in (SCORE_LINE_WIDTH, 9.0))
    assert thin.lines.found > 0 and thin.lines.predicted > 0  # the shipped model finds these synthetic lines
    for k in ("found", "lines", "on_line", "predicted", "length_scores"):
        assert getattr(thin.lines, k) == getattr(wide.lines, k)
    # the masks of the metric are drawn at the training width: 9 px bands score differently
    assert thin.summary()["metric"] != wide.summary()["metric"]


def test_pooled_scores_of_held_out_frames_and_evaluate_pool(annotated, tmp_path):
    """The pool that 'disloc segment --model best.pt --model last.pt' writes, scored as the estimate is."""
    from core.learn.evaluate import score_lines, score_source
    from core.learn.finetune import FinetuneReport, score_pool_held_out
    from core.learn.predict import Predictor
    from core.learn.traindata import open_source
    from core.shipped import realistic_model_path

    rep = finetune([annotated], tmp_path / "run", minutes=0.001, recipe=TINY, threads=1)
    src = open_source(annotated, "annotations")
    a, b = Predictor(rep.best_path, device="cpu"), Predictor(realistic_model_path(), device="cpu")
    alone = score_lines([a], src)
    assert alone.summary() == score_source(a, src, lines=True).lines.summary()  # the estimate's own path
    assert score_lines([a, a], src).summary() == alone.summary()  # the same model twice: each line once
    both = score_lines([a, b], src)
    assert both.lines == alone.lines and both.predicted <= alone.predicted + score_lines([b], src).predicted
    held = score_pool_held_out(rep.best_path, realistic_model_path(), tmp_path / "run" / "split" / "holdout")
    assert set(held) == {"alone", "pooled"} and 0.0 <= held["pooled"]["recall"] <= 1.0
    words = FinetuneReport(**{**rep.__dict__, "pooled": held}).pooled_words()
    assert f"--model {rep.best_path} --model {tmp_path / 'run' / 'last.pt'}" in words
    assert f"{held['pooled']['recall']:.2f} against {held['alone']['recall']:.2f}" in words
    assert "tick 'with last.pt'" in FinetuneReport(**{**rep.__dict__, "pooled": held}).pooled_words(app=True)
    assert rep.pooled is None or set(rep.pooled) == {"alone", "pooled"}  # (None when best.pt is the last epoch)
    r = subprocess.run([sys.executable, "-m", "app", "evaluate", "--pool", "--model", str(rep.best_path),
                        "--model", "realistic", "--annotations", str(annotated)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{annotated}: {both.summary()}" in r.stdout
    r = subprocess.run([sys.executable, "-m", "app", "evaluate", "--pool", "--model", str(rep.best_path),
                        "--annotations", str(annotated)], capture_output=True, text=True)
    assert r.returncode != 0 and "at least two" in r.stderr
