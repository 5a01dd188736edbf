"""core.analysis.tracking: identities across frames, pair distances, auto pairs."""
from __future__ import annotations

import numpy as np
import pytest

from core.analysis.postprocess import postprocess
from core.analysis.splines import mask_to_spline
from core.analysis.tracking import (Tracker, auto_pairs, curve_distance_matrix, pair_distance, pair_distance_rows,
                                    parse_pairs, point_to_curve_distances)
from core.errors import DislocError
from core.io.labelme import rasterize_polyline

SHAPE = (100, 160)


def curved(x0, bow=4.0, y0=8.0, y1=92.0, n=200):
    """A smooth bowed line from (x0, y0) to (x0, y1)."""
    t = np.linspace(0, 1, n)
    return np.column_stack([x0 + bow * np.sin(np.pi * t), y0 + (y1 - y0) * t])


def splines_of(lines, width=4.0):
    masks = np.stack([rasterize_polyline(p, SHAPE, width) for p in lines])
    fm = postprocess(masks)
    return [mask_to_spline(fm.masks[k], path=fm.paths[k]) for k in range(len(fm))]


def test_ids_stable_for_a_moving_pileup():
    tr = Tracker(gate_px=8)
    history = []
    for f in range(10):
        xs = [30 + 16 * k + 3 * f for k in range(4)]  # spacing 16 px, glide 3 px per frame
        sps = splines_of([curved(x) for x in xs])
        ids = tr.update(f, [s.xy for s in sps])
        order = np.argsort([s.x.mean() for s in sps])
        history.append([ids[i] for i in order])
    assert all(h == history[0] for h in history), history
    assert sorted(history[0]) == [1, 2, 3, 4]


def test_vanished_dislocation_ends_and_new_one_gets_a_new_id():
    tr = Tracker(gate_px=8, max_gap=0)
    a, b = curved(30), curved(70)
    ids0 = tr.update(0, [a, b])
    ids1 = tr.update(1, [a + [2, 0]])  # b vanished
    assert ids1 == [ids0[0]]
    ids2 = tr.update(2, [a + [4, 0], curved(120)])  # a far new one
    assert ids2[0] == ids0[0] and ids2[1] not in ids0
    ids3 = tr.update(3, [b])  # b comes back after 2 frames: max_gap 0 -> new id
    assert ids3[0] not in ids0 + ids2


def test_missed_frame_within_max_gap_keeps_the_id():
    tr = Tracker(gate_px=8, max_gap=2)
    a = curved(40)
    i0 = tr.update(0, [a])
    tr.update(1, [])
    assert tr.update(2, [a + [3, 0]]) == i0


def test_crossing_jump_larger_than_gate_starts_new_track():
    tr = Tracker(gate_px=5)
    i0 = tr.update(0, [curved(40)])
    assert tr.update(1, [curved(60)]) != i0


def test_reversed_curve_keeps_id_and_is_reported_flipped():
    tr = Tracker(gate_px=5)
    a = curved(40)
    i0 = tr.update(0, [a])
    assert tr.update(1, [a[::-1] + [1, 0]]) == i0
    assert tr.flips == [True]
    np.testing.assert_allclose(tr.reference(i0[0])[0], a[0] + [1, 0])


def test_state_round_trip_continues_identically():
    import json

    tr = Tracker(gate_px=8)
    tr.update(0, [curved(30), curved(60)])
    tr.update(1, [curved(32), curved(62)])
    clone = Tracker.from_state(json.loads(json.dumps(tr.state())))
    nxt = [curved(34), curved(64), curved(120)]
    assert clone.update(2, nxt) == tr.update(2, nxt)


@pytest.mark.parametrize("spacing", [6.0, 11.5, 20.0])
def test_pair_distance_of_parallel_lines_through_the_whole_pipeline(spacing):
    # Two parallel lines drawn, segmented as masks, skeletonised and fitted: distance within 1 px of the truth.
    a = np.array([[20.0, 10.0], [140.0, 40.0]])
    normal = np.array([-30.0, 120.0]) / np.hypot(30.0, 120.0)
    b = a + spacing * normal
    sa, sb = splines_of([a, b], width=3.0)
    assert pair_distance(sa.xy, sb.xy) == pytest.approx(spacing, abs=1.0)
    assert pair_distance(sa.xy, sb.xy) == pytest.approx(pair_distance(sb.xy, sa.xy))


def test_pair_distance_exact_on_sampled_curves():
    a = np.column_stack([np.linspace(0, 100, 50), np.zeros(50)])
    b = np.column_stack([np.linspace(3.3, 103.3, 50), np.full(50, 7.0)])  # points offset along the line
    # Distances go to the curve, not to b's nearest sample point: exactly 7 where the lines overlap.
    np.testing.assert_allclose(point_to_curve_distances(a[5:-5], b), 7.0, atol=1e-9)
    # The symmetric mean counts the overhanging ends too (b starts 3.3 px later and ends 3.3 px later).
    assert 7.0 < pair_distance(a, b) < 7.2
    assert curve_distance_matrix([a], [b])[0, 0] > pair_distance(a, b)  # sample-to-sample is coarser


def pileup_curves(n_frames=12, xs=(30, 36, 44, 56, 72), step=1.5):
    """Track id -> frame -> curve for a pileup crowded at its left end (the obstacle)."""
    return {k + 1: {f: curved(x + step * f) for f in range(n_frames)} for k, x in enumerate(xs)}


def test_auto_pairs_picks_the_leading_three_of_the_largest_pileup():
    curves = pileup_curves()
    curves[9] = {f: curved(150) for f in range(12)}  # a lone dislocation far away
    curves[10] = {f: curved(100) for f in range(3)}  # a short-lived one
    assert auto_pairs(curves, 12) == [(1, 2), (2, 3)]
    # The same pileup crowded at its right end: the lead is on the right.
    mirrored = pileup_curves(xs=(30, 46, 58, 66, 72))
    assert auto_pairs(mirrored, 12) == [(5, 4), (4, 3)]


def test_pair_rows_and_parse_pairs():
    curves = pileup_curves(n_frames=4)
    del curves[2][3]
    rows = pair_distance_rows(curves, {f: f * 0.5 for f in range(4)}, [(1, 2)])
    assert [r[0] for r in rows] == [0, 1, 2]
    assert rows[1][1] == 0.5 and rows[0][4] == pytest.approx(6.0, abs=0.3)
    assert parse_pairs("auto") is None
    assert parse_pairs("1:2, 3:4") == [(1, 2), (3, 4)]
    with pytest.raises(DislocError, match="ID:ID"):
        parse_pairs("1-2")
    with pytest.raises(DislocError, match="id 7"):
        pair_distance_rows(curves, {}, [(1, 7)])


def test_curves_of_a_run_that_found_nothing_are_empty():
    from core.analysis.results import curves_by_track

    empty = {k: np.zeros(0) for k in ("frame", "dislocation_id", "point_index", "x_px", "y_px", "time_s")}
    assert curves_by_track(empty) == ({}, {})
