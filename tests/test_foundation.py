"""Project-wide promises: core stays Qt-free, the CLI loads, files are atomic."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.errors import DislocError
from core.io import dataset, labelme
from core.io.fileio import atomic_write_json

from .conftest import ROOT


def test_core_never_imports_qt():
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "from app.cli import build_parser; build_parser()\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken6'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cli_help_lists_commands():
    r = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "synth" in r.stdout


def test_atomic_write_keeps_old_file_when_serialising_fails(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"x": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"x": object()})
    assert json.loads(p.read_text()) == {"x": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_masks_roundtrip_keeps_overlaps(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.random((3, 17, 23)) > 0.7
    m[1] |= m[0]  # overlapping masks
    dataset.save_masks(tmp_path / "m.npz", m)
    back = dataset.load_masks(tmp_path / "m.npz")
    assert back.dtype == bool and back.shape == m.shape and np.array_equal(back, m)
    dataset.save_masks(tmp_path / "e.npz", np.zeros((0, 5, 9), bool))
    assert dataset.load_masks(tmp_path / "e.npz").shape == (0, 5, 9)


def test_damaged_mask_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(DislocError, match="bad.npz"):
        dataset.load_masks(p)


def test_labelme_roundtrip_keeps_unknown_keys(tmp_path):
    d = {
        "version": "5.4.1", "flags": {}, "imagePath": "f.png", "imageData": None,
        "imageHeight": 64, "imageWidth": 80, "myTool": {"keep": True},
        "shapes": [
            {"label": "dislocation", "points": [[1, 2], [30.5, 40]], "group_id": None,
             "shape_type": "linestrip", "flags": {}, "description": "leading"},
            {"label": "x", "points": [[5, 5]], "shape_type": "point", "flags": {}},
        ],
    }
    src = tmp_path / "in.json"
    src.write_text(json.dumps(d))
    lf = labelme.read_labelme(src)
    assert len(lf.dislocations()) == 1
    labelme.write_labelme(tmp_path / "out.json", lf)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["myTool"] == {"keep": True}
    assert out["shapes"][0]["description"] == "leading"
    assert out["shapes"][1]["shape_type"] == "point"
    assert out["shapes"][0]["points"] == [[1.0, 2.0], [30.5, 40.0]]


@pytest.mark.parametrize(
    "shapes, field",
    [([{"label": "d", "points": [[1, 2], [3]], "shape_type": "linestrip"}], "shapes[0].points"),
     ([{"label": 3, "points": [[1, 2], [3, 4]], "shape_type": "linestrip"}], "shapes[0].label"),
     ("nope", "shapes")],
)
def test_labelme_errors_name_the_field(tmp_path, shapes, field):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"imageHeight": 10, "imageWidth": 10, "shapes": shapes}))
    with pytest.raises(DislocError) as e:
        labelme.read_labelme(p)
    assert str(p) in str(e.value) and field in str(e.value)


def test_rasterize_width_is_exact():
    m = labelme.rasterize_polyline(np.array([[10.0, 20.0], [50.0, 20.0]]), (40, 60), width=5)
    assert m[:, 30].sum() == 5 and m[20, 10:51].all() and not m[20, 55]


def test_atomic_write_gives_normal_permissions(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    mode = p.stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_text_bar_eta_counts_only_steps_done_in_this_session():
    import io

    from core.progress import Progress, TextBar

    out = io.StringIO()
    bar = TextBar("x", stream=out)
    bar.t0 -= 10.0  # pretend 10 s have passed
    bar(Progress(900, 1000))  # a resumed job: the first report is already at 900
    bar._last_print = 0.0
    bar(Progress(950, 1000))  # 50 steps in ~10 s -> ~10 s left, not ~0.5 s
    last = out.getvalue().strip().splitlines()[-1]
    assert "eta 00:1" in last or "eta 00:09" in last, last


def test_a_thread_left_running_is_noticed():
    """The autouse fixture of conftest.py fails a test that leaves a thread behind; its check sees one."""
    import threading

    from .conftest import _leftovers

    before = set(threading.enumerate())
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="forgotten-worker", daemon=True)
    t.start()
    try:
        assert "forgotten-worker" in _leftovers(before)
    finally:
        stop.set()
        t.join()
    assert not _leftovers(before)
