"""Synthetic datasets: the CLI end to end, regeneration, resume, workers, bad input."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from app.cli import main
from core.errors import Cancelled, DislocError
from core.io import dataset
from core.synth import load_preset
from core.synth.writer import derive_seed, make_sample, write_dataset

from .conftest import ROOT


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_cli_writes_a_small_dataset_and_regenerates_a_sample(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--preset", "m2", "--n", "6", "--size", "128", "--seed", "7", "--out", str(out),
                 "--overlay"]) == 0
    assert "wrote 6 samples" in capsys.readouterr().out
    m = dataset.read_manifest(out)
    assert (m["preset"], m["seed"], m["count"], m["image_size"]) == ("m2", 7, 6, 128)
    assert m["created_by"].startswith("disloc ")
    assert dataset.list_samples(out) == [f"s{i:06d}" for i in range(6)]
    for sid in dataset.list_samples(out):
        img, masks = dataset.load_sample(out, sid)
        assert img.shape == (128, 128) and masks.shape[1:] == (128, 128) and masks.dtype == bool
        rec = json.loads((out / "params" / f"{sid}.json").read_text())
        assert rec["dataset"] == {"preset": "m2", "dataset_seed": 7, "index": int(sid[1:])}
        assert rec["seed"] == derive_seed(7, int(sid[1:])) and "lambda1" in rec["params"]
    # --from-json gives the identical image and masks
    out2 = tmp_path / "again"
    assert main(["synth", "--from-json", str(out / "params" / "s000003.json"), "--out", str(out2)]) == 0
    a_img, a_masks = dataset.load_sample(out, "s000003")
    b_img, b_masks = dataset.load_sample(out2, "s000003")
    assert np.array_equal(a_img, b_img) and np.array_equal(a_masks, b_masks)
    assert (out / "images" / "s000003.png").read_bytes() == (out2 / "images" / "s000003.png").read_bytes()
    # the overlay is the masks over the image, written on request only
    assert (out / "overlay" / "s000003.png").exists()
    write_dataset(tmp_path / "plain", "m2", 2, seed=7, size=64)
    assert not (tmp_path / "plain" / "overlay").exists()


def test_resume_skips_finished_samples_and_redoes_the_unfinished_one(tmp_path):
    out = tmp_path / "ds"
    write_dataset(out, "m2", 5, seed=1, size=64)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.parent.name != "ds"}
    original = (out / "images" / "s000002.png").read_bytes()
    # what a killed run leaves: a sample without its params file, a temp file of an atomic write
    (out / "params" / "s000002.json").unlink()
    (out / "images" / ".s000002.png.abc.tmp").write_bytes(b"half")
    time.sleep(0.02)
    rep = write_dataset(out, "m2", 5, seed=1, size=64)
    assert (rep.written, rep.skipped) == (1, 4)
    assert dataset.list_samples(out) == [f"s{i:06d}" for i in range(5)]
    assert not list(out.rglob("*.tmp"))
    for p, t in before.items():
        if "s000002" not in p.name:
            assert p.stat().st_mtime_ns == t, p  # finished samples were not rewritten
    assert (out / "images" / "s000002.png").read_bytes() == original


def test_killed_cli_run_leaves_only_whole_samples_and_resumes(tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "app", "synth", "--n", "400", "--size", "64", "--seed", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list((out / "params").glob("s*.json"))) < 3:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = dataset.list_samples(out)
    assert 3 <= len(done) < 400
    for sid in (p.stem for p in (out / "params").glob("s*.json")):
        assert dataset.is_complete(out, sid)  # params only ever next to a whole sample
        dataset.load_sample(out, sid)
    mtimes = {sid: (out / "params" / f"{sid}.json").stat().st_mtime_ns for sid in done}
    n = len(done) + 3
    r = subprocess.run(cmd[:5] + [str(n)] + cmd[6:], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert dataset.list_samples(out) == [f"s{i:06d}" for i in range(n)]
    assert all((out / "params" / f"{sid}.json").stat().st_mtime_ns == t for sid, t in mtimes.items())
    # the resumed samples are exactly what an uninterrupted run makes
    img, masks = dataset.load_sample(out, f"s{n - 1:06d}")
    ref = make_sample(load_preset("m2"), 2, n - 1, 64)
    assert np.array_equal(masks, ref.masks) and np.array_equal(img, dataset.to_gray_float(ref.image_u8()))


def test_two_workers_write_the_same_files_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write_dataset(one, "m2", 6, seed=5, size=64, workers=1)
    write_dataset(two, "m2", 6, seed=5, size=64, workers=2)
    assert _files(one) == _files(two)
    for f in _files(one):
        if f.endswith(".npz"):  # zip entries carry a timestamp: compare the arrays
            assert np.array_equal(dataset.load_masks(one / f), dataset.load_masks(two / f))
        else:
            assert (one / f).read_bytes() == (two / f).read_bytes(), f


def test_cancel_keeps_finished_samples(tmp_path):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        write_dataset(tmp_path / "ds", "m2", 10, size=64, should_stop=stop)
    assert dataset.list_samples(tmp_path / "ds") == ["s000000", "s000001"]


def test_progress_reports_reach_the_total(tmp_path):
    seen = []
    write_dataset(tmp_path / "ds", "m2", 3, size=64, on_progress=seen.append)
    assert seen[-1].step == seen[-1].total == 3


def test_preset_given_as_a_path(tmp_path):
    src = json.loads((ROOT / "resources" / "presets" / "m2.json").read_text())
    src["name"] = "mine"
    src["ranges"]["n_pileups"] = 1
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(src))
    write_dataset(tmp_path / "ds", str(path), 2, size=64)
    for sid in ("s000000", "s000001"):
        rec = json.loads((tmp_path / "ds" / "params" / f"{sid}.json").read_text())
        assert len(rec["params"]["pileups"]) == 1 and rec["dataset"]["preset"] == "mine"


def _cli(args, tmp_path):
    r = subprocess.run([sys.executable, "-m", "app", "synth", *args], cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    return r.returncode, lines


def test_bad_preset_file_is_one_clear_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "ranges": {"contrast": [0.2, 3.0]}}))
    code, err = _cli(["--preset", str(bad), "--n", "2", "--out", str(tmp_path / "ds")], tmp_path)
    assert code == 2 and len(err) == 1
    assert str(bad) in err[0] and "contrast" in err[0]
    assert not (tmp_path / "ds").exists()


def test_other_options_on_an_existing_dataset_are_refused_and_nothing_is_lost(tmp_path):
    out = tmp_path / "ds"
    write_dataset(out, "m2", 2, seed=1, size=64)
    before = {f: (out / f).read_bytes() for f in _files(out)}
    with pytest.raises(DislocError, match="seed"):
        write_dataset(out, "m2", 4, seed=2, size=64)
    with pytest.raises(DislocError, match="image_size"):
        write_dataset(out, "m2", 4, seed=1, size=96)
    assert {f: (out / f).read_bytes() for f in _files(out)} == before


def test_cli_usage_errors(tmp_path):
    code, err = _cli(["--out", str(tmp_path / "x")], tmp_path)
    assert code == 2 and "--n" in err[0]
    code, err = _cli(["--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")], tmp_path)
    assert code == 2 and "missing.json" in err[0]
    bad = tmp_path / "s000001.json"
    bad.write_text(json.dumps({"format": "disloc-synth-sample", "mode": "generate", "seed": 1,
                               "params": {"lambda1": 50, "pileups": [{"contrast": 9}]}}))
    code, err = _cli(["--from-json", str(bad), "--out", str(tmp_path / "x")], tmp_path)
    assert code == 2 and len(err) == 1 and str(bad) in err[0] and "pileups[0].contrast" in err[0]


def test_sample_seeds_depend_on_dataset_seed_and_index_only():
    assert derive_seed(7, 3) == derive_seed(7, 3)
    assert len({derive_seed(7, i) for i in range(100)} | {derive_seed(8, 0)}) == 101


def test_a_realistic_dataset_is_written_without_scipy_or_the_network_code(tmp_path):
    """disloc synth builds only its own parser and the fast renderer needs no scipy: a light start-up."""
    args = ["synth", "--preset", "realistic", "--n", "1", "--size", "96", "--out", str(tmp_path)]
    code = (f"import sys\nfrom app.cli import main\nassert main({args!r}) == 0\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('scipy', 'torch') or m.startswith('core.learn')]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
