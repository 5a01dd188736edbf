"""core.analysis.ridgeends: spline ends that walk on along the frame's dark line beyond a faded mask."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from core.analysis.ridgeends import MAX_PX, follow_ridge, ridge_map
from core.analysis.splines import mask_to_spline
from core.analysis.tracking import point_to_curve_distances


def frame_with(lines, shape=(120, 200), depth=60.0, sigma=1.2, noise=4.0, seed=0):
    """A bright frame with dark Gaussian lines ((x0, y0, x1, y1) segments, depth each) and white noise."""
    rng = np.random.default_rng(seed)
    ink = np.zeros(shape)
    for (x0, y0, x1, y1), d in lines:
        t = np.linspace(0, 1, int(4 * np.hypot(x1 - x0, y1 - y0)) + 2)
        ink[np.round(y0 + t * (y1 - y0)).astype(int), np.round(x0 + t * (x1 - x0)).astype(int)] = d
    ink = ndimage.gaussian_filter(ink, sigma) * (2 * np.pi * sigma ** 2) / 2.0
    return 180.0 - ink + rng.normal(0, noise, shape)


def band(shape, x0, x1, y, half=2):
    m = np.zeros(shape, bool)
    m[y - half:y + half + 1, x0:x1 + 1] = True
    return m


def test_a_faded_mask_is_followed_to_where_the_line_ends():
    """The mask covers the middle 60 px of a 140 px line: the spline walks on to the line's real ends."""
    img = frame_with([((30, 60, 170, 60), 60.0)])
    mask = band(img.shape, 70, 130, 60)
    ridge = ridge_map(img)
    short = mask_to_spline(mask, extend_ends=True)
    full = mask_to_spline(mask, extend_ends=True, ridge=ridge)
    assert short.length_px == pytest.approx(60, abs=4)
    assert full.length_px == pytest.approx(140, abs=6)
    assert min(full.x) == pytest.approx(30, abs=4) and max(full.x) == pytest.approx(170, abs=4)
    assert np.abs(full.y - 60).max() < 1.0  # along the line, not off it


def test_no_line_beyond_the_mask_no_walk():
    """Where the frame shows no line past the mask's end (noise only), the ends stay (a pixel or two at most)."""
    img = frame_with([((70, 60, 130, 60), 60.0)], noise=8.0)
    mask = band(img.shape, 70, 130, 60)
    plain = mask_to_spline(mask, extend_ends=True)
    followed = mask_to_spline(mask, extend_ends=True, ridge=ridge_map(img))
    assert followed.length_px - plain.length_px < 6


def test_a_faint_line_is_followed_as_far_as_it_stays_as_visible_and_not_along_a_crossing_trace():
    """The line runs into a strong perpendicular slip trace at x = 160: the walk stops there, it does not turn."""
    img = frame_with([((30, 60, 160, 60), 25.0), ((160, 5, 160, 115), 80.0)])
    mask = band(img.shape, 60, 130, 60)
    sp = mask_to_spline(mask, extend_ends=True, ridge=ridge_map(img))
    assert min(sp.x) == pytest.approx(30, abs=5)
    assert max(sp.x) < 165 and np.abs(sp.y - 60).max() < 4.0  # reached the trace, did not run along it (up to 40 px)


def test_walk_is_bounded_and_paths_without_a_ridge_are_kept():
    img = frame_with([((5, 60, 195, 60), 60.0)])
    xy = np.column_stack([np.arange(90, 111, 1.0), np.full(21, 60.0)])
    out = follow_ridge(xy, ridge_map(img))
    assert len(out) <= len(xy) + 2 * MAX_PX
    assert out[0, 0] == pytest.approx(90 - MAX_PX, abs=1) and out[-1, 0] == pytest.approx(110 + MAX_PX, abs=1)
    assert point_to_curve_distances(out, np.array([[0.0, 60.0], [199.0, 60.0]])).max() < 1.0
    np.testing.assert_array_equal(follow_ridge(xy, None), xy)
    assert ridge_map(np.full((50, 50), 7.0)) is None  # a blank frame has no ridge


def test_a_mask_on_no_visible_line_does_not_wander_off():
    """A mask lying where the frame shows nothing (noise only) is not walked anywhere, however weak its floor."""
    img = frame_with([((20, 100, 180, 100), 60.0)], noise=6.0)  # the frame's one line lies elsewhere
    mask = band(img.shape, 70, 130, 40)
    plain = mask_to_spline(mask, extend_ends=True)
    followed = mask_to_spline(mask, extend_ends=True, ridge=ridge_map(img))
    assert followed.length_px - plain.length_px < 4


def test_non_finite_pixels_do_not_spread_into_the_splines():
    """A float frame with NaN and inf pixels (a dead detector row, a masked corner) still gives finite splines."""
    img = frame_with([((30, 60, 170, 60), 60.0)])
    img[20, :] = np.nan
    img[:10, :10] = np.inf
    mask = band(img.shape, 70, 130, 60)
    sp = mask_to_spline(mask, extend_ends=True, ridge=ridge_map(img))
    assert np.isfinite(sp.xy).all()
    assert sp.length_px == pytest.approx(140, abs=6)  # still followed along the line
    assert ridge_map(np.full((40, 40), np.nan)) is None


def test_ridge_map_answers_thin_dark_lines_not_bright_ones_nor_broad_blotches():
    """Strength peaks on a dark line's centre; a bright line, a broad dark blotch and flat ground score low."""
    img = frame_with([((20, 30, 180, 30), 60.0)], noise=0.0)
    img -= frame_with([((20, 90, 180, 90), 60.0)], noise=0.0) - 180.0  # a bright line at y = 90
    yy, xx = np.mgrid[:120, :200]
    img -= 60.0 * np.exp(-((xx - 100) ** 2 + (yy - 60) ** 2) / (2 * 12.0 ** 2))  # a dark blotch, sigma 12 px
    s = ridge_map(img).strength
    column = s[:, 60]
    assert int(np.argmax(column)) == 30
    line = s[30, 40:160].min()
    assert s[90, 40:160].max() < 0.01 * line  # a bright line's middle
    assert s[80:101, 40:160].max() < 0.5 * line  # and its flanks, which curve up a little
    assert s[50:71, 90:111].max() < 0.2 * line  # the blotch's middle
    assert s[5:15, 40:160].max() < 0.01 * line  # flat ground
    # the frame's intensity scale does not matter: only ratios are used
    s2 = ridge_map(3.0 * img + 100.0)
    assert np.allclose(s2.strength, s, atol=1e-5 * line) and s2.least == pytest.approx(ridge_map(img).least, rel=1e-4)


def test_ridge_map_in_strips_is_the_same_and_needs_little_more_memory_than_the_map():
    """Worked through a few rows at a time (as a 10000 x 10000 frame is), the map is the one of the whole frame."""
    import tracemalloc

    img = frame_with([((20, 30, 180, 90), 60.0), ((10, 100, 190, 20), 40.0)])
    img[50, :40] = np.nan
    whole = ridge_map(img, strip_rows=10_000)
    for rows in (17, 40):
        part = ridge_map(img, strip_rows=rows)
        assert np.array_equal(part.strength, whole.strength) and part.least == whole.least
    colour = np.repeat(np.nan_to_num(img, nan=180.0)[..., None], 3, axis=2).astype(np.uint8)
    assert np.array_equal(ridge_map(colour, strip_rows=17).strength, ridge_map(colour[..., 0]).strength)
    big = np.tile(frame_with([((20, 30, 180, 90), 60.0)]).astype(np.uint8), (12, 8))  # 1440 x 1600
    tracemalloc.start()
    ridge_map(big, strip_rows=128)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2.0 * big.size * 4  # the float32 map and a few strips, not six frame-sized arrays
