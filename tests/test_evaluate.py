"""disloc evaluate on tiny datasets: the table, the CSV files and the plots."""
import argparse
import csv

import numpy as np
import pytest
import torch

from app.cli import evaluate as cli_evaluate
from app.cli import train as cli_train
from core.errors import DislocError
from core.learn.evaluate import evaluate, format_table
from core.learn.metrics import evaluate_image
from core.learn.model import create_model, make_header, save_checkpoint

from ._lines import make_labelme_folder, make_line_dataset


def cli(argv):
    """Parse and run one of our subcommands (without the other commands' modules)."""
    p = argparse.ArgumentParser(prog="disloc")
    sub = p.add_subparsers()
    cli_train.register(sub)
    cli_evaluate.register(sub)
    args = p.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("ev")
    data = make_line_dataset(root / "lines", n=5, size=64, lines=(1, 3), seed=4)
    ann = make_labelme_folder(root / "frames", n=2, size=64)
    torch.manual_seed(0)
    for name in ("a", "b"):
        m = create_model("unetplusplus", "tu-mobilenetv2_100", 3)
        save_checkpoint(root / f"{name}.pt", m, make_header(arch="unetplusplus", encoder="tu-mobilenetv2_100",
                                                            n_masks=3, input_size=64))
    return root, data, ann


def test_evaluate_cli_writes_table_csv_and_png(setup, capsys):
    root, data, ann = setup
    out = root / "report"
    rc = cli(["evaluate", "--model", str(root / "a.pt"), "--model", str(root / "b.pt"), "--data", str(data),
              "--data", str(ann), "--out", str(out), "--precision", "fp32"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "metric" in text and "duplicates" in text and "a" in text and "lines" in text and "frames" in text
    with open(out / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["model"], r["dataset"], r["n_images"]) for r in table] == [
        ("a", "lines", "5"), ("a", "frames", "2"), ("b", "lines", "5"), ("b", "frames", "2")]
    assert all(0.0 <= float(r["metric"]) <= 1.0 for r in table)
    with open(out / "per_image.csv") as f:
        assert len(list(csv.DictReader(f))) == 2 * (5 + 2)
    with open(out / "metric_vs_count.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"model", "dataset", "masks", "n_dislocations", "n_images", "mean", "median",
                                     "q25", "q75", "min", "max"}
    assert {r["masks"] for r in rows} == {"raw", "clean"}
    assert "after post-processing" in text and "metric_clean" in text
    for png in ("metric_vs_count.png", "table.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_metric_is_the_mean_of_the_image_scores(setup):
    root, data, _ = setup
    r = evaluate([root / "a.pt"], [data], limit=2, precision="fp32")
    assert r.table[0]["n_images"] == 2 and len(r.per_image) == 2
    row = r.table[0]
    scores = [p["metric"] for p in r.per_image if not np.isnan(p["metric"])]
    assert row["metric"] == pytest.approx(np.mean(scores))
    assert "a" in format_table(r) and "lines" in format_table(r, "iou")


def test_clean_scores_are_those_of_the_post_processed_masks(setup):
    from core.analysis.postprocess import PostprocessConfig, postprocess
    from core.learn.predict import Predictor
    from core.learn.traindata import load_item, open_source

    root, data, _ = setup
    cfg = PostprocessConfig(min_length_px=5)
    r = evaluate([root / "a.pt"], [data], limit=3, precision="fp32", postprocess=cfg)
    src = open_source(data)
    pred = Predictor(root / "a.pt", precision="fp32")
    for key, row in zip(src.keys[:3], r.per_image):
        image, masks = load_item(src, key, 3.0)
        fm = postprocess(pred.predict(image[None])[0], cfg)
        assert row["n_clean"] == len(fm)
        want = evaluate_image(fm.masks.astype(np.float32), masks).score
        assert row["metric_clean"] == pytest.approx(want, nan_ok=True)
    clean = [p["metric_clean"] for p in r.per_image if not np.isnan(p["metric_clean"])]
    assert r.table[0]["metric_clean"] == pytest.approx(np.mean(clean))


def test_evaluate_errors_are_clear(setup, tmp_path):
    root, data, _ = setup
    with pytest.raises(DislocError, match="not found"):
        evaluate([tmp_path / "none.pt"], [data])
    with pytest.raises(DislocError, match="folder not found"):
        evaluate([root / "a.pt"], [tmp_path / "nodata"])


def test_train_cli_runs_and_resumes(setup, capsys):
    root, data, _ = setup
    out = root / "run"
    base = ["train", "--data", str(data), "--test", str(data), "--image-size", "64", "--n-masks", "3",
            "--threads", "2", "--batch-size", "5", "--out", str(out)]
    assert cli(base + ["--epochs", "1"]) == 0
    assert cli(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 epochs in" in text and "best length metric" in text
    with pytest.raises(DislocError, match="no config.json"):
        cli(["train", "--out", str(root / "nothing"), "--resume"])


def test_train_cli_skeleton_weight_reaches_the_loss(setup):
    """--skeleton-weight is saved in the run's config and adds its term to the training loss."""
    import json

    root, data, _ = setup
    base = ["train", "--data", str(data), "--image-size", "64", "--n-masks", "3", "--threads", "2",
            "--batch-size", "5", "--epochs", "1", "--precision", "fp32"]
    losses = {}
    for w in ("0", "2"):
        out = root / f"skel{w}"
        assert cli(base + ["--out", str(out), "--skeleton-weight", w]) == 0
        assert json.loads((out / "config.json").read_text())["skeleton_weight"] == float(w)
        with open(out / "history.csv", newline="") as f:
            losses[w] = float(next(csv.DictReader(f))["train_loss"])
    # the same seed, data and first step: the term can only add (a recall loss >= 0), and on
    # an untrained network it adds a lot
    assert losses["2"] > losses["0"] + 0.2


def test_train_cli_lr_schedule_is_saved_and_applied(setup):
    """--lr-schedule cosine is kept in the run's config and brings the optimiser's lr down over the run."""
    import json

    import torch

    root, data, _ = setup
    out = root / "cosine"
    assert cli(["train", "--data", str(data), "--image-size", "64", "--n-masks", "3", "--threads", "2",
                "--batch-size", "5", "--epochs", "2", "--lr", "1e-3", "--lr-schedule", "cosine",
                "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["lr_schedule"] == "cosine"
    lr = torch.load(out / "last.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"]
    assert 0 < lr < 1e-3
    with pytest.raises(SystemExit):
        cli(["train", "--data", str(data), "--out", str(root / "x"), "--lr-schedule", "linear"])


def test_train_cli_crop_on_lines_is_saved_and_checked(setup):
    """--crop-on-lines is kept in the run's config; a share outside 0-1 is refused with what to give."""
    import json

    root, data, _ = setup
    out = root / "on_lines"
    assert cli(["train", "--data", str(data), "--image-size", "64", "--n-masks", "3", "--threads", "2",
                "--batch-size", "5", "--epochs", "1", "--crop-on-lines", "0.5", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["crop_on_lines"] == 0.5
    from core.errors import DislocError

    with pytest.raises(DislocError, match="crop_on_lines must be a number from 0"):
        cli(["train", "--data", str(data), "--out", str(root / "bad"), "--crop-on-lines", "1.5"])
    assert not (root / "bad" / "config.json").exists()
