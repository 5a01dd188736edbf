"""core.analysis.postprocess on ground-truth masks with injected faults."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from core.analysis.postprocess import PostprocessConfig, dice_matrix, postprocess
from core.errors import DislocError
from core.io.labelme import rasterize_polyline

SHAPE = (96, 128)


def line(x0, x1=None, width=4.0, y0=6.0, y1=90.0):
    """A gently bent line from top to bottom, ``width`` px wide."""
    x1 = x0 if x1 is None else x1
    pts = np.array([[x0, y0], [0.5 * (x0 + x1) + 3, 0.5 * (y0 + y1)], [x1, y1]])
    return rasterize_polyline(pts, SHAPE, width)


@pytest.fixture
def gt():
    return np.stack([line(20), line(45), line(70), line(95)])


def probs_from(masks, value=0.9, n=8, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.2, size=(n, *SHAPE)).astype(np.float32)
    for k, m in enumerate(masks):
        p[k][m] = value
    return p


def test_clean_masks_pass_through(gt):
    fm = postprocess(probs_from(gt))
    assert len(fm) == 4
    assert fm.channels == [0, 1, 2, 3]
    np.testing.assert_array_equal(fm.masks, gt)
    np.testing.assert_allclose(fm.scores, 0.9, atol=1e-6)
    assert all(f == () for f in fm.flags)
    assert fm.merged_from == [[], [], [], []]
    np.testing.assert_array_equal(fm.combined, gt.any(axis=0))


def test_dilated_duplicate_is_merged_into_the_better_mask(gt):
    p = probs_from(gt)
    dup = ndimage.binary_dilation(gt[1], iterations=1)
    assert 1 - dice_matrix(np.stack([dup, gt[1]]))[0, 1] < 0.5  # really a duplicate by the paper's rule
    p[5][dup] = 0.7  # a weaker duplicate in another output
    fm = postprocess(p)
    assert len(fm) == 4
    k = fm.channels.index(1)
    assert fm.merged_from[k] == [5]
    assert "merged" in fm.flags[k]
    np.testing.assert_array_equal(fm.masks[k], gt[1])  # the better (higher probability) mask is kept
    # When the duplicate is the more confident one, it wins instead.
    p[5][dup] = 0.97
    fm = postprocess(p)
    k = fm.channels.index(5)
    assert fm.merged_from[k] == [1] and 1 not in fm.channels
    np.testing.assert_array_equal(fm.masks[k], dup)


def test_specks_are_removed_and_threshold_is_half(gt):
    p = probs_from(gt[:2])
    p[2, 40:43, 60:63] = 0.95  # 9 px speck
    p[3][gt[3]] = 0.49  # below threshold
    fm = postprocess(p, PostprocessConfig(min_size_px=20))
    assert fm.channels == [0, 1]
    p[3][gt[3]] = 0.51
    assert postprocess(p).channels == [0, 1, 3]


def test_far_apart_lines_in_one_mask_are_split(gt):
    p = probs_from([gt[0] | gt[3]])
    fm = postprocess(p)
    assert len(fm) == 2 and fm.channels == [0, 0]
    assert all("split" in f for f in fm.flags)
    got = sorted(fm.masks, key=lambda m: np.nonzero(m)[1].mean())
    np.testing.assert_array_equal(got[0], gt[0])
    np.testing.assert_array_equal(got[1], gt[3])


def test_close_pieces_are_kept_together_and_flagged():
    a = line(40)
    b = line(48)  # 8 px apart centre to centre: a gap of about 4 px
    fm = postprocess(probs_from([a | b]), PostprocessConfig(split_gap_px=12))
    assert len(fm) == 1
    assert "several_components" in fm.flags[0]
    assert fm.n_flagged == 1


def test_union_mask_does_not_swallow_two_clean_masks(gt):
    # Output 0 holds two neighbouring dislocations merged into one blob; outputs 1 and 2 hold them cleanly.
    a, b = line(40, width=5), line(46, width=5)
    p = probs_from([a | b, a, b], value=0.9)
    p[0][a | b] = 0.99  # the union mask is even the most confident one
    fm = postprocess(p)
    assert sorted(fm.channels) == [1, 2]
    assert sum(fm.merged_from, []) == [0]


def test_branched_mask_is_flagged():
    t_shape = line(60) | rasterize_polyline(np.array([[60.0, 50.0], [110.0, 50.0]]), SHAPE, 4)
    fm = postprocess(probs_from([t_shape]))
    assert len(fm) == 1 and "branched" in fm.flags[0]
    assert fm.paths[0] is not None and fm.paths[0].side_branch_px >= 10


def test_bool_input_and_empty_frame():
    fm = postprocess(np.zeros((5, *SHAPE), bool))
    assert len(fm) == 0 and fm.masks.shape == (0, *SHAPE) and not fm.combined.any()
    m = np.zeros((2, *SHAPE), bool)
    m[0] = line(30)
    fm = postprocess(m)
    assert len(fm) == 1 and fm.scores[0] == 1.0


def test_config_is_validated():
    with pytest.raises(DislocError, match="threshold"):
        PostprocessConfig(threshold=1.5)
    with pytest.raises(DislocError, match="unknown key 'treshold'"):
        PostprocessConfig.from_dict({"treshold": 0.4})
    c = PostprocessConfig(min_size_px=5)
    assert PostprocessConfig.from_dict(c.to_dict()) == c


def test_blob_covering_the_frame_is_not_a_dislocation(gt):
    p = probs_from(gt[:1])
    p[3] = 0.8  # a failed output: everything "on"
    p[4, :, :70] = 0.8  # more than a quarter of the frame
    fm = postprocess(p)
    assert fm.channels == [0]


def test_short_piece_of_a_line_is_absorbed_into_it(gt):
    # Output 4 traces a quarter of line 1: Dice loss 0.6 against the whole
    # line, so the Dice rule keeps it; it is still a piece of that line.
    piece = gt[1].copy()
    piece[30:, :] = False
    dice = 2 * piece.sum() / (piece.sum() + gt[1].sum())
    assert 1 - dice > 0.5  # the duplicate rule alone would not merge it
    fm = postprocess(probs_from([*gt, piece]))
    assert fm.channels == [0, 1, 2, 3]
    assert fm.merged_from[1] == [4] and "merged" in fm.flags[1]
    np.testing.assert_array_equal(fm.masks, gt)


def test_clean_line_is_not_absorbed_into_a_two_line_mask():
    # Output 0 holds two neighbouring lines side by side (one blob twice as
    # wide as a line); output 1 a short piece of one of them. The blob is not
    # one line, so the piece may be its own dislocation's only clean trace.
    a, b = line(40, width=4), line(45, width=4)  # touching: one piece, not split
    piece = a.copy()
    piece[40:, :] = False
    fm = postprocess(probs_from([a | b, piece]))
    assert fm.channels == [0, 1]
    # With the clean lines present too, the blob goes (a union) and the piece joins its line.
    fm = postprocess(probs_from([a | b, piece, a, b]))
    assert fm.channels == [2, 3] and 1 in fm.merged_from[0]


def test_line_crossing_another_keeps_its_own_mask():
    # Two crossing dislocations predicted as one X-shaped mask plus one of
    # them alone: the lone one is not a "piece" of the branched X.
    a = line(30, 100)
    b = line(100, 30)
    short = rasterize_polyline(np.array([[40.0, 20.0], [52.0, 34.0]]), SHAPE, 4) & a
    assert short.sum() > 20
    fm = postprocess(probs_from([a | b, short]), PostprocessConfig(min_length_px=0))
    assert "branched" in fm.flags[0] or "loop" in fm.flags[0]
    assert fm.channels == [0, 1]


def test_specks_shorter_than_min_length_are_dropped(gt):
    dot = np.zeros(SHAPE, bool)
    dot[40:46, 110:116] = True  # 36 px, but no line: skeleton of a few px
    fm = postprocess(probs_from([*gt, dot]))
    assert fm.channels == [0, 1, 2, 3]
    fm = postprocess(probs_from([*gt, dot]), PostprocessConfig(min_length_px=0))
    assert fm.channels == [0, 1, 2, 3, 4]
    short = rasterize_polyline(np.array([[110.0, 20.0], [110.0, 45.0]]), SHAPE, 3)  # a 25 px line stays
    fm = postprocess(probs_from([*gt, short]), PostprocessConfig(min_length_px=10))
    assert fm.channels == [0, 1, 2, 3, 4]


def test_new_settings_are_validated():
    with pytest.raises(DislocError, match="contain_fraction"):
        PostprocessConfig(contain_fraction=0.0)
    with pytest.raises(DislocError, match="min_length_px"):
        PostprocessConfig(min_length_px=-1)


def test_neighbours_in_one_output_become_separate_masks():
    # One output holding three pileup neighbours 6 px apart (gaps of 3 px):
    # three dislocations, not one mask three lines wide.
    lines = [line(x, width=3) for x in (40, 46, 52)]
    fm = postprocess(probs_from([lines[0] | lines[1] | lines[2]]))
    assert len(fm) == 3 and all("split" in f for f in fm.flags)
    for m in lines:
        assert max((m & k).sum() / m.sum() for k in fm.masks) > 0.95


def test_pieces_of_one_line_end_to_end_are_joined(gt):
    # The network often breaks one dislocation into two outputs with a gap
    # between them (a crossing, a faint stretch): they become one mask again.
    from core.learn.metrics import skeleton_length

    whole = line(60, 80)
    top, bottom = whole.copy(), whole.copy()
    top[40:, :] = False
    bottom[:55, :] = False  # a 15 px gap
    others = [gt[0], gt[3]]
    fm = postprocess(probs_from([*others, top, bottom]))
    assert len(fm) == 3
    k = [i for i, f in enumerate(fm.flags) if "joined" in f]
    assert len(k) == 1
    k = k[0]
    assert sorted([fm.channels[k], *fm.merged_from[k]]) == [2, 3]
    assert fm.paths[k].n_pieces == 1  # the gap is bridged: one line, one spline
    joined = fm.masks[k]
    assert abs(skeleton_length(joined) - skeleton_length(whole)) < 6.0
    assert (joined & ~ndimage.binary_dilation(whole, iterations=2)).sum() == 0  # no stray pixels
    # With joining off, the two pieces stay apart.
    fm = postprocess(probs_from([*others, top, bottom]), PostprocessConfig(join_gap_px=0))
    assert len(fm) == 4 and not any("joined" in f for f in fm.flags)


def test_pieces_overshooting_each_other_on_one_line_are_joined():
    # The network's two pieces of one line overlap by 10 px, 1 px apart sideways.
    top = rasterize_polyline(np.array([[50.0, 5.0], [50.0, 50.0]]), SHAPE, 3)
    bottom = rasterize_polyline(np.array([[51.0, 40.0], [51.0, 90.0]]), SHAPE, 3)
    fm = postprocess(probs_from([top, bottom]))
    assert len(fm) == 1 and "joined" in fm.flags[0]
    # Two neighbours of a pileup 6 px apart, their ends passing each other: two lines.
    other = rasterize_polyline(np.array([[56.0, 40.0], [56.0, 90.0]]), SHAPE, 3)
    assert len(postprocess(probs_from([top, other]))) == 2


def test_neighbours_of_a_pileup_are_not_joined():
    # Ends close together but side by side (pileup neighbours ending on one
    # slip trace), or meeting at a right angle: different dislocations.
    a, b = line(40, width=3, y1=60.0), line(50, width=3, y1=62.0)
    fm = postprocess(probs_from([a, b]))
    assert len(fm) == 2
    down = rasterize_polyline(np.array([[30.0, 10.0], [30.0, 50.0]]), SHAPE, 3)
    across = rasterize_polyline(np.array([[36.0, 56.0], [90.0, 56.0]]), SHAPE, 3)
    fm = postprocess(probs_from([down, across]))
    assert len(fm) == 2 and not any("joined" in f for f in fm.flags)
    # A piece off to the side of a line's end (a lateral offset) is not its continuation either.
    top = rasterize_polyline(np.array([[30.0, 5.0], [30.0, 40.0]]), SHAPE, 3)
    side = rasterize_polyline(np.array([[52.0, 50.0], [52.0, 90.0]]), SHAPE, 3)
    assert len(postprocess(probs_from([top, side]))) == 2


def test_join_settings_are_validated():
    with pytest.raises(DislocError, match="join_gap_px"):
        PostprocessConfig(join_gap_px=-1)
    with pytest.raises(DislocError, match="join_angle_deg"):
        PostprocessConfig(join_angle_deg=95)


def test_second_trace_of_a_line_a_few_px_off_is_a_duplicate():
    # Two outputs trace one line, the second 2 px to the side and a bit
    # shorter: Dice says two lines (they hardly share pixels), skeletons say one.
    a = rasterize_polyline(np.array([[40.0, 5.0], [46.0, 50.0], [44.0, 90.0]]), SHAPE, 2)
    b = rasterize_polyline(np.array([[42.0, 12.0], [48.0, 50.0], [46.0, 85.0]]), SHAPE, 2)
    assert 1 - 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.5
    fm = postprocess(probs_from([a, b]))
    assert len(fm) == 1 and fm.merged_from[0] == [1] and fm.channels == [0]


def test_pieces_overlapping_end_to_end_are_joined_but_a_touching_neighbour_is_not():
    from core.learn.metrics import skeleton_length

    top = rasterize_polyline(np.array([[50.0, 5.0], [50.0, 60.0]]), SHAPE, 3)
    bottom = rasterize_polyline(np.array([[52.0, 30.0], [52.0, 92.0]]), SHAPE, 3)  # 30 px side by side
    fm = postprocess(probs_from([top, bottom]))
    assert len(fm) == 1 and "joined" in fm.flags[0]
    assert skeleton_length(fm.masks[0]) > 80
    # A line that meets another in its middle (a T) is another dislocation.
    stem = rasterize_polyline(np.array([[20.0, 48.0], [49.0, 48.0]]), SHAPE, 3)
    line_ = rasterize_polyline(np.array([[52.0, 5.0], [52.0, 92.0]]), SHAPE, 3)
    assert len(postprocess(probs_from([line_, stem]))) == 2
    # Pileup neighbours 5 px apart along their whole length stay two.
    left = rasterize_polyline(np.array([[40.0, 5.0], [44.0, 90.0]]), SHAPE, 2)
    right = rasterize_polyline(np.array([[45.0, 10.0], [49.0, 92.0]]), SHAPE, 2)
    assert len(postprocess(probs_from([left, right]))) == 2
