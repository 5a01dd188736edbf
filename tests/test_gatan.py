"""Issue 18.7: Gatan DM3/DM4 files, read through rosettasciio, on real files from its test data.

The files lie in ``../shared/formats/gatan`` beside the repository (see its
README): single images, a calibrated STEM image (pixel size in nm) and
two-frame stacks. Each frame must come out as rosettasciio reads it,
stretched to [0, 1] per frame, and ``disloc segment`` must run on them with
the calibration reaching the ``_nm`` columns.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.io.frames import open_frames

from .conftest import ROOT

GATAN = ROOT.parent / "shared" / "formats" / "gatan"
pytestmark = [
    pytest.mark.skipif(not GATAN.is_dir(), reason=f"no Gatan test files at {GATAN} (../shared/formats/gatan)"),
]
rsciio = pytest.importorskip("rsciio", reason="rosettasciio is not installed (pip install -e .[dev])")

FILES = {  # name: (frames, (H, W), pixel size nm or None)
    "2D_test-1.dm3": (1, (2, 2), None),
    "2D_test-1.dm4": (1, (2, 2), None),
    "2D_test_STEM_image.dm3": (1, (68, 68), 0.248538),
    "3D_test-1.dm3": (2, (2, 2), None),
    "3D_test-1.dm4": (2, (2, 2), None),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_open_frames_reads_what_rosettasciio_reads(name):
    from rsciio.digitalmicrograph import file_reader

    n, shape, pixel_nm = FILES[name]
    data = np.asarray(file_reader(str(GATAN / name))[0]["data"], np.float64).reshape(-1, *shape)
    with open_frames(GATAN / name) as src:
        assert (len(src), src.shape, src.kind) == (n, shape, "dm")
        if pixel_nm is None:
            assert src.pixel_size_nm is None
        else:
            assert src.pixel_size_nm == pytest.approx(pixel_nm, rel=1e-5)
        for i in range(n):
            frame = src[i]
            want = (data[i] - data[i].min()) / (data[i].max() - data[i].min())
            assert frame.dtype == np.float32 and np.allclose(frame, want, atol=1e-6)
        if n > 1:
            assert not np.array_equal(data[0], data[1])  # the frames are the file's own, in order


@pytest.mark.parametrize("name", ["2D_test_STEM_image.dm3", "3D_test-1.dm4", "2D_test-1.dm3"])
def test_segment_runs_on_gatan_files_with_their_calibration(name, tmp_path, capsys):
    from app.cli import main

    n, _, pixel_nm = FILES[name]
    out = tmp_path / "out"
    assert main(["segment", str(GATAN / name), "--out", str(out)]) == 0
    assert f"{n}/{n} frames" in capsys.readouterr().out
    state = json.loads((out / "segment_state.json").read_text())
    assert state["finished"] and state["n_frames"] == n
    with open(out / "splines.csv", newline="") as f:
        header = next(csv.reader(f))
    if pixel_nm is None:
        assert state["pixel_size_nm"] is None and "x_nm" not in header
    else:  # the calibration reaches the _nm columns
        assert state["pixel_size_nm"] == pytest.approx(pixel_nm, rel=1e-5)
        assert {"x_nm", "y_nm", "arc_length_nm", "curvature_per_nm"} <= set(header)
