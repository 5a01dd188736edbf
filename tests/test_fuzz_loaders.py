"""Issue 18: every loader, fed random bytes and damaged copies of real files, ends in one DislocError or a result.

Property-based (hypothesis), deterministic (``derandomize``: the same
examples on every run, no example database) and small enough to run in
seconds. A real file of each kind is made here (PNG, multi-page TIFF, MP4,
labelme and settings JSON, a checkpoint, a mask file, a Gatan DM4 when the
shared test files are there); each example cuts it short, overwrites a few
bytes, or replaces it with random bytes, then loads it. Anything but a
:class:`~core.errors.DislocError` (a traceback for the user) fails, and so
does any file written beside it.
"""
from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from core.errors import DislocError  # noqa: E402

from .conftest import ROOT  # noqa: E402


def _png() -> bytes:
    import imageio.v3 as iio

    img = (np.random.default_rng(0).random((24, 32)) * 255).astype(np.uint8)
    return iio.imwrite("<bytes>", img, extension=".png")


def _tiff() -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, (np.random.default_rng(1).random((3, 16, 20)) * 65535).astype(np.uint16), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "TYX", "unit": "nm", "finterval": 0.5})
    return buf.getvalue()


def _mp4(folder: Path) -> bytes:
    import imageio_ffmpeg

    path = folder / "v.mp4"
    gen = imageio_ffmpeg.write_frames(str(path), (32, 32), pix_fmt_in="gray", fps=10, macro_block_size=16,
                                      ffmpeg_log_level="error")
    gen.send(None)
    for t in range(6):
        gen.send(np.full((32, 32), 40 * t, np.uint8))
    gen.close()
    return path.read_bytes()


def _labelme() -> bytes:
    d = {"version": "5.5.0", "flags": {}, "imagePath": "f.png", "imageData": None, "imageHeight": 32,
         "imageWidth": 32, "shapes": [{"label": "dislocation", "points": [[1, 2], [20, 25.5]], "group_id": None,
                                       "shape_type": "linestrip", "flags": {}}]}
    return json.dumps(d, indent=2).encode()


def _segment_config() -> bytes:
    from core.analysis.segmentconfig import SegmentConfig

    return json.dumps(SegmentConfig(tile_px=256).to_dict(), indent=2).encode()


def _checkpoint(folder: Path) -> bytes:
    import torch

    from core.learn.model import make_header, save_checkpoint

    path = folder / "m.pt"
    save_checkpoint(path, torch.nn.Conv2d(1, 2, 3), make_header(arch="unet", encoder="resnet18", n_masks=2,
                                                                 input_size=32))
    return path.read_bytes()


def _masks(folder: Path) -> bytes:
    from core.analysis.results import save_frame_masks

    masks = np.random.default_rng(2).random((3, 20, 24)) > 0.9
    save_frame_masks(folder, 0, masks)
    return (folder / "masks" / "frame_000000.npz").read_bytes()


def _load_frames(path):
    from core.io.frames import open_frames

    with open_frames(path) as src:
        for i in range(len(src)):
            src[i]


def _load_image(path):
    from core.io.dataset import load_image

    load_image(path)


def _read_labelme(path):
    from core.io.labelme import read_labelme

    read_labelme(path)


def _read_segment_config(path):
    from core.analysis.segmentconfig import SegmentConfig

    SegmentConfig.load(path)


def _read_preset(path):
    from core.synth.presets import load_preset

    load_preset(path)


def _read_checkpoint(path):
    from core.learn.model import read_checkpoint

    read_checkpoint(path)


def _load_masks(path):
    from core.io.dataset import load_masks

    load_masks(path)


def _real_files() -> dict:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        files = {"png": (".png", _png(), [_load_frames, _load_image]),
                 "tiff": (".tif", _tiff(), [_load_frames, _load_image]),
                 "mp4": (".mp4", _mp4(d), [_load_frames]),
                 "labelme": (".json", _labelme(), [_read_labelme]),
                 "config": (".json", _segment_config(), [_read_segment_config, _read_preset]),
                 "checkpoint": (".pt", _checkpoint(d), [_read_checkpoint]),
                 "masks": (".npz", _masks(d), [_load_masks])}
    dm = ROOT.parent / "shared" / "formats" / "gatan" / "3D_test-1.dm4"
    try:
        import rsciio  # noqa: F401

        if dm.is_file():
            files["dm4"] = (".dm4", dm.read_bytes(), [_load_frames])
    except ImportError:
        pass
    return files


REAL = _real_files()
# Examples per kind: enough to reach headers, tables and data of each format; the video spawns ffmpeg per try.
EXAMPLES = {"png": 40, "tiff": 40, "mp4": 12, "labelme": 40, "config": 30, "checkpoint": 25, "masks": 25, "dm4": 20}


def damaged(data: bytes):
    """Cut short, a few bytes overwritten, a block flipped, or random bytes."""
    n = len(data)
    cut = st.integers(0, n - 1).map(lambda k: data[:k])
    poke = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
        lambda edits: _poke(data, edits))
    flip = st.tuples(st.integers(0, n - 1), st.integers(1, 4096)).map(
        lambda t: data[:t[0]] + bytes(b ^ 0xA5 for b in data[t[0]:t[0] + t[1]]) + data[t[0] + t[1]:])
    return st.one_of(cut, poke, flip, st.binary(max_size=600))


def _poke(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for at, value in edits:
        b[at] = value
    return bytes(b)


@pytest.mark.parametrize("kind", sorted(REAL))
def test_every_loader_gives_one_dislocerror_and_writes_nothing(kind):
    ext, data, loaders = REAL[kind]

    @settings(max_examples=EXAMPLES[kind], derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(damaged(data))
    def check(blob):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"input{ext}"
            path.write_bytes(blob)
            for load in loaders:
                try:
                    load(path)
                except DislocError as e:
                    assert str(e).strip() and len(str(e).strip().splitlines()) == 1, str(e)
                assert sorted(p.name for p in Path(d).iterdir()) == [path.name], load.__name__  # nothing written

    check()
