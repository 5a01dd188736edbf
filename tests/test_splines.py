"""core.analysis.splines: skeleton path, resampling, smoothing spline, curvature."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.analysis.splines import N_POINTS, fit_spline, mask_to_spline, resample_polyline, skeleton_path
from core.analysis.tracking import point_to_curve_distances
from core.io.labelme import rasterize_polyline


def dense(points, n=400):
    return resample_polyline(np.asarray(points, float), n)


def smooth(points, n=400):
    """A smooth true line: the interpolating cubic spline through support points (as the generator draws)."""
    from scipy.interpolate import splev, splprep

    pts = np.asarray(points, float)
    tck, _ = splprep(pts.T, s=0, k=min(3, len(pts) - 1))
    return np.column_stack(splev(np.linspace(0, 1, n), tck))


CURVES = {
    "bent": [[10.3, 12.1], [60.2, 40.5], [110.7, 52.0], [150.4, 100.9]],
    "steep": [[80.0, 5.0], [70.0, 60.0], [85.0, 120.0]],
    "wavy": [[8.0, 70.0], [40.0, 50.0], [75.0, 75.0], [110.0, 50.0], [150.0, 72.0]],
}


@pytest.mark.parametrize("name", sorted(CURVES))
@pytest.mark.parametrize("width", [3.0, 5.0, 7.0])
def test_spline_points_lie_on_the_true_line(name, width):
    true = smooth(CURVES[name])
    mask = rasterize_polyline(true, (128, 160), width)
    sp = mask_to_spline(mask)
    assert sp is not None and len(sp.x) == N_POINTS
    d = point_to_curve_distances(sp.xy, true)
    assert d.max() < 1.5, d.max()
    assert d.mean() < 0.5
    true_len = np.hypot(*np.diff(true, axis=0).T).sum()
    assert sp.length_px == pytest.approx(true_len, rel=0.03)
    # Ends are found (Lee thinning of round-capped lines ends on the end points).
    ends = sorted([sp.xy[0], sp.xy[-1]], key=lambda p: p[0])
    assert min(np.hypot(*(ends[0] - true[0])), np.hypot(*(ends[0] - true[-1]))) < 2.5


def test_points_are_equally_spaced_by_arc_length():
    mask = rasterize_polyline(dense(CURVES["wavy"]), (128, 160), 5)
    sp = mask_to_spline(mask)
    steps = np.diff(sp.arc_length)
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-6)
    chord = np.hypot(np.diff(sp.x), np.diff(sp.y))
    np.testing.assert_allclose(chord, steps, rtol=0.02)  # 50 points: chords nearly equal arcs


def test_curvature_of_a_circular_arc():
    r, cx, cy = 50.0, 80.0, 90.0
    t = np.linspace(math.radians(200), math.radians(340), 300)  # upper arc, left to right
    arc = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
    sp = mask_to_spline(rasterize_polyline(arc, (160, 160), 5))
    inner = sp.curvature[5:-5]
    # Left to right over the top with y down: the curve turns clockwise on screen -> positive.
    assert np.all(inner > 0)
    assert np.median(inner) == pytest.approx(1 / r, rel=0.1)
    rev = sp.reversed()
    np.testing.assert_allclose(rev.curvature, -sp.curvature[::-1])
    np.testing.assert_allclose(rev.xy, sp.xy[::-1])


def test_straight_line_tangent_and_zero_curvature():
    a = math.radians(30)
    pts = np.array([[20, 20], [20 + 100 * math.cos(a), 20 + 100 * math.sin(a)]])
    sp = mask_to_spline(rasterize_polyline(pts, (100, 140), 4))
    np.testing.assert_allclose(sp.tangent_angle, a, atol=0.02)
    assert np.abs(sp.curvature).max() < 0.005


def test_orientation_is_left_to_right_or_top_down():
    pts = np.array([[120.0, 30.0], [20.0, 40.0]])
    sp = mask_to_spline(rasterize_polyline(pts, (80, 140), 4))
    assert sp.x[0] < sp.x[-1]
    pts = np.array([[50.0, 110.0], [45.0, 10.0]])
    sp = mask_to_spline(rasterize_polyline(pts, (120, 100), 4))
    assert sp.y[0] < sp.y[-1]


def test_spurs_are_ignored_and_long_branches_flagged():
    main = dense([[10, 50], [150, 50]])
    spur = rasterize_polyline(np.array([[80.0, 50.0], [80.0, 56.0]]), (100, 160), 3)
    mask = rasterize_polyline(main, (100, 160), 5) | spur
    path = skeleton_path(mask)
    assert not path.branched
    assert np.abs(path.xy[:, 1] - 50).max() <= 1.0  # the path stays on the main line
    branch = rasterize_polyline(np.array([[80.0, 50.0], [80.0, 90.0]]), (100, 160), 4)
    sp = mask_to_spline(mask | branch)
    assert "branched" in sp.flags
    assert point_to_curve_distances(sp.xy, main).max() < 1.5  # the longest path is still the main line


def test_closed_loop_is_opened():
    t = np.linspace(0, 2 * np.pi, 400)
    ring = np.column_stack([70 + 40 * np.cos(t), 60 + 40 * np.sin(t)])
    mask = rasterize_polyline(ring, (120, 140), 4)
    path = skeleton_path(mask)
    assert path.loop
    assert path.length_px > 0.85 * 2 * np.pi * 40  # runs all round, not half
    sp = mask_to_spline(mask)
    assert "loop" in sp.flags


def test_several_pieces_use_the_largest():
    a = rasterize_polyline(np.array([[10.0, 20.0], [120.0, 20.0]]), (80, 140), 4)
    b = rasterize_polyline(np.array([[10.0, 60.0], [40.0, 60.0]]), (80, 140), 4)
    sp = mask_to_spline(a | b)
    assert "several_pieces" in sp.flags
    assert np.abs(sp.y - 20).max() < 1.0


@pytest.mark.parametrize("name", sorted(CURVES))
def test_plain_line_walk_matches_the_graph_search(name):
    """A plain line is walked without a graph; a speck beside it sends the same
    line through the two Dijkstra sweeps: same pixels, same order, same length."""
    line = rasterize_polyline(smooth(CURVES[name]), (140, 170), 4)
    alone = skeleton_path(line)
    speck = line.copy()
    speck[1:4, 164:167] = True  # far from every curve: a second skeleton piece
    assert not (line[1:4, 164:167]).any()
    searched = skeleton_path(speck)
    assert (alone.n_pieces, searched.n_pieces) == (1, 2)
    np.testing.assert_array_equal(alone.xy, searched.xy)
    assert alone.length_px == pytest.approx(searched.length_px, abs=1e-9)
    assert not alone.branched and not alone.loop


def test_tiny_and_empty_masks():
    assert mask_to_spline(np.zeros((20, 20), bool)) is None
    m = np.zeros((20, 20), bool)
    m[10, 10] = True
    assert mask_to_spline(m) is None
    assert fit_spline(np.array([[1.0, 1.0], [1.5, 1.0]])) is None


def _flat_ended_band(true: np.ndarray, shape: tuple, width: float) -> np.ndarray:
    """A band around a line that stops square at its end points, as a network's thresholded mask does."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    pix = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    d = np.hypot(pix[:, None, 0] - true[None, :, 0], pix[:, None, 1] - true[None, :, 1])
    k = d.argmin(1)
    inside = (d[np.arange(len(pix)), k] <= width / 2) & (k > 0) & (k < len(true) - 1)
    return inside.reshape(shape)


def test_extended_ends_reach_where_the_mask_ends_and_restore_the_length():
    true = smooth(CURVES["bent"], n=300)
    mask = _flat_ended_band(true, (128, 160), 7.0)
    true_len = np.hypot(*np.diff(true, axis=0).T).sum()
    plain, ext = mask_to_spline(mask), mask_to_spline(mask, extend_ends=True)
    # Lee thinning stops about half the width short at each end: the plain spline is too short
    assert plain.length_px < true_len - 4
    assert ext.length_px == pytest.approx(true_len, abs=2.5)
    for end in (true[0], true[-1]):
        assert min(np.hypot(*(ext.xy[i] - end)) for i in (0, -1)) < 1.5
    assert point_to_curve_distances(ext.xy, true).max() < 1.5  # prolonged along the line, not off it


def test_extending_a_crop_with_its_frame_path_gives_the_whole_frames_spline():
    """Segmentation keeps masks as crops with their skeleton path in frame px: the origin says where the crop lies."""
    true = smooth(CURVES["wavy"], n=300)
    mask = _flat_ended_band(true, (128, 160), 5.0)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y0, x0 = int(rows[0]), int(cols[0])
    crop = mask[y0:rows[-1] + 1, x0:cols[-1] + 1]
    whole = mask_to_spline(mask, extend_ends=True)
    part = mask_to_spline(crop, path=skeleton_path(mask), extend_ends=True, origin=(y0, x0))
    np.testing.assert_allclose(part.xy, whole.xy, atol=1e-9)
    assert part.length_px > mask_to_spline(mask).length_px + 4
