"""core.io: videos, TIFF stacks, image folders, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import DislocError
from core.io.frames import FrameReadError, is_blank, natural_key, open_frames

H, W = 64, 96


def frame_with_bar(i: int, shape=(H, W)) -> np.ndarray:
    """A gray frame whose dark vertical bar sits at x = 4 + 3 i (so each frame is recognisable)."""
    img = np.full(shape, 0.75, np.float32)
    x = 4 + 3 * i
    img[:, x:x + 4] = 0.15
    return img


def bar_index(frame: np.ndarray) -> int:
    """Which frame_with_bar this is: the dark bar's centre is at x = 5.5 + 3 i."""
    centre = np.nonzero(frame.mean(axis=0) < 0.45)[0].mean()
    return int(round((centre - 5.5) / 3))


def write_video(path, frames, fps=10.0, faststart=False, codec=None):
    import imageio_ffmpeg

    h, w = frames[0].shape
    kw = {"codec": codec} if codec else {}
    gen = imageio_ffmpeg.write_frames(str(path), (w, h), pix_fmt_in="gray", fps=fps, macro_block_size=1,
                                      output_params=["-movflags", "+faststart"] if faststart else None,
                                      ffmpeg_log_level="error", **kw)
    gen.send(None)
    for f in frames:
        gen.send(np.ascontiguousarray((f * 255).round().astype(np.uint8)))
    gen.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "glide.mp4"
    frames = [frame_with_bar(i) for i in range(24)]
    write_video(path, frames, fps=12.5)
    return path, frames


def test_video_reads_every_frame_in_order(video):
    path, frames = video
    with open_frames(path) as src:
        assert src.kind == "video"
        assert len(src) == 24
        assert src.shape == (H, W)
        assert src.fps == pytest.approx(12.5)
        assert src.pixel_size_nm is None
        seq = list(src)
        assert all(f.dtype == np.float32 and f.shape == (H, W) for f in seq)
        assert 0.0 <= min(f.min() for f in seq) and max(f.max() for f in seq) <= 1.0
        # The bar moves 3 px per frame: decoding kept every frame, in order.
        assert [bar_index(f) for f in seq] == list(range(24))
        assert np.abs(seq[5] - frames[5]).mean() < 0.03
        assert src.frame_time(10) == pytest.approx(0.8)
        assert src.name(7) == "frame_000007"


def test_video_random_access_equals_sequential(video):
    path, _ = video
    with open_frames(path) as src:
        seq = list(src)
    with open_frames(path) as src:
        for i in (17, 3, 3, 23, 0, 12, 13, 14, 2, -1):
            assert np.array_equal(src[i], seq[i]), i
        with pytest.raises(IndexError):
            src[24]
        assert [i for i, _ in src.iter_frames(start=20)] == [20, 21, 22, 23]


def test_truncated_video_reads_what_it_can_and_names_the_bad_frame(tmp_path):
    path = tmp_path / "cut.mp4"
    rng = np.random.default_rng(0)
    frames = [np.clip(frame_with_bar(i) + 0.2 * rng.random((H, W)), 0, 1) for i in range(30)]
    write_video(path, frames, faststart=True)  # index first, so a cut file still opens
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    with open_frames(path) as src:
        assert src.warnings and "truncated" in src.warnings[0] and "cut.mp4" in src.warnings[0]
        good = []
        with pytest.raises(FrameReadError) as ei:
            for i in range(len(src)):
                good.append(src[i])
        assert 5 < len(good) < 30
        assert ei.value.index == len(good)
        assert "cut.mp4" in str(ei.value) and f"frame {len(good)}" in str(ei.value)
        # Frames before the cut are intact.
        assert [bar_index(f) for f in good] == list(range(len(good)))


def test_empty_and_garbage_videos_raise_naming_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DislocError, match="empty.mp4.*empty"):
        open_frames(empty)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(DislocError, match="junk.avi"):
        open_frames(junk)
    with pytest.raises(DislocError, match="not found"):
        open_frames(tmp_path / "nope.mp4")
    odd = tmp_path / "notes.xyz"
    odd.write_text("x")
    with pytest.raises(DislocError, match="unsupported"):
        open_frames(odd)


def test_16bit_tiff_stack_with_imagej_calibration(tmp_path):
    import tifffile

    rng = np.random.default_rng(2)
    stack = rng.integers(1000, 60000, size=(7, 40, 50), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    # 4 pixels per nm -> 0.25 nm per pixel; a frame every 0.02 s -> 50 fps.
    tifffile.imwrite(path, stack, imagej=True, resolution=(4.0, 4.0),
                     metadata={"unit": "nm", "finterval": 0.02, "axes": "TYX"})
    with open_frames(path) as src:
        assert src.kind == "tiff" and len(src) == 7 and src.shape == (40, 50)
        assert src.pixel_size_nm == pytest.approx(0.25)
        assert src.fps == pytest.approx(50.0)
        np.testing.assert_allclose(src[3], stack[3] / 65535.0, rtol=1e-6)
        np.testing.assert_allclose(src[6], stack[6] / 65535.0, rtol=1e-6)


def test_ome_tiff_and_plain_tiff_metadata(tmp_path):
    import tifffile

    a = np.zeros((3, 16, 16), np.uint8)
    a[:, 4:8, 4:8] = 200
    ome = tmp_path / "a.ome.tif"
    tifffile.imwrite(ome, a, ome=True, photometric="minisblack", metadata={"axes": "TYX", "PhysicalSizeX": 0.0015, "PhysicalSizeXUnit": "µm",
                                                 "TimeIncrement": 0.1})
    with open_frames(ome) as src:
        assert src.pixel_size_nm == pytest.approx(1.5)
        assert src.fps == pytest.approx(10.0)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, a, resolution=(72, 72), resolutionunit="INCH", compression="zlib",
                     photometric="minisblack")
    with open_frames(plain) as src:
        assert len(src) == 3 and src.pixel_size_nm is None  # 72 dpi is a display setting, not a calibration
        assert src[1][5, 5] == pytest.approx(200 / 255)


def test_rgb_png_folder_natural_sort(tmp_path):
    import imageio.v3 as iio

    for i in (1, 2, 10, 3):
        rgb = np.zeros((20, 30, 3), np.uint8)
        rgb[..., 1] = 10 * i  # green only: gray = 0.587 * value
        iio.imwrite(tmp_path / f"f{i}.png", rgb)
    (tmp_path / "notes.txt").write_text("not an image")
    with open_frames(tmp_path) as src:
        assert src.kind == "folder" and len(src) == 4 and src.fps is None
        assert [src.name(i) for i in range(4)] == ["f1", "f2", "f3", "f10"]
        assert src[3][0, 0] == pytest.approx(0.587 * 100 / 255, abs=1e-3)
        assert src[0].ndim == 2


def test_folder_with_a_frame_of_another_size_names_it(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "a1.png", np.zeros((20, 30), np.uint8))
    iio.imwrite(tmp_path / "a2.png", np.zeros((21, 30), np.uint8))
    with open_frames(tmp_path) as src:
        with pytest.raises(FrameReadError, match="frame 1.*differs"):
            src[1]


def test_single_image_and_empty_folder(tmp_path):
    import imageio.v3 as iio

    img = (np.arange(12 * 16) % 256).astype(np.uint8).reshape(12, 16)
    iio.imwrite(tmp_path / "one.png", img)
    with open_frames(tmp_path / "one.png", fps=5, pixel_size_nm=2.0) as src:
        assert src.kind == "image" and len(src) == 1
        np.testing.assert_allclose(src[0], img / 255.0)
        assert src.fps == 5.0 and src.pixel_size_nm == 2.0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DislocError, match="no image files"):
        open_frames(empty)


def test_damaged_empty_and_truncated_images_say_what_is_wrong(tmp_path):
    import warnings

    import imageio.v3 as iio

    from core.io.dataset import load_image

    img = (np.random.default_rng(0).random((32, 48)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "f0.png", img)
    data = (tmp_path / "f0.png").read_bytes()
    (tmp_path / "f1.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "f2.png").write_bytes(b"")
    (tmp_path / "f3.png").write_bytes(b"a text file renamed to png")
    with open_frames(tmp_path) as src, warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation noise from readers tried in vain
        np.testing.assert_allclose(src[0], img / 255.0)
        with pytest.raises(FrameReadError, match="f1.*truncated"):
            src[1]
        for i in (2, 3):
            with pytest.raises(FrameReadError, match=f"f{i}.*empty, damaged or not a PNG image") as e:
                src[i]
            assert "pip install" not in str(e.value)  # nothing to install would help
    with pytest.raises(DislocError, match="f3.png.*not a PNG image"):
        load_image(tmp_path / "f3.png")


def test_frame_of_zeros_is_blank():
    assert is_blank(np.zeros((8, 8), np.float32))
    assert is_blank(np.full((8, 8), 0.3, np.float32))
    assert not is_blank(frame_with_bar(0))


def test_dm_without_rosettasciio_says_what_to_install(tmp_path):
    pytest.importorskip  # noqa: B018 (documentation: this test needs rsciio to be absent)
    try:
        import rsciio  # noqa: F401
        pytest.skip("rosettasciio is installed here; the missing-extra message cannot be shown")
    except ImportError:
        pass
    path = tmp_path / "movie.dm4"
    path.write_bytes(b"\x00\x00\x00\x04" + b"\x00" * 60)
    with pytest.raises(DislocError, match=r"movie.dm4.*pip install rosettasciio"):
        open_frames(path)


def test_natural_key():
    assert sorted(["f10.png", "f2.png", "F1.png"], key=natural_key) == ["F1.png", "f2.png", "f10.png"]


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (41, 1), (64, 64), (97, 130)])
def test_our_fast_gray_png_reads_back_exactly_in_pillow_and_imageio(tmp_path, shape):
    import imageio.v3 as iio
    from PIL import Image

    from core.io.fileio import atomic_write_png

    rng = np.random.default_rng(sum(shape))
    images = {"noise": rng.integers(0, 256, shape, dtype=np.uint8),
              "flat": np.full(shape, 200, np.uint8),
              "ramp": (np.arange(shape[0] * shape[1]) % 256).astype(np.uint8).reshape(shape)}
    for name, img in images.items():
        path = tmp_path / f"{name}.png"
        atomic_write_png(path, img, noisy=True)
        assert np.array_equal(iio.imread(path), img), name
        with Image.open(path) as im:
            assert im.mode == "L" and np.array_equal(np.asarray(im), img), name
        assert not list(tmp_path.glob("*.tmp*")), "the temporary file was left behind"
