"""The length metric, duplicates and IoU on hand-made masks with known answers."""
import math

import numpy as np
import pytest

from core.io.labelme import rasterize_polyline
from core.learn.metrics import (clean_mask, dice_loss_matrix_np, evaluate_image, length_score, match_greedy,
                                match_hungarian, score_by_count, skeleton_length, skeleton_path_length, summarize,
                                union_iou)


def hline(y, x0, x1, shape=(48, 64)):
    m = np.zeros(shape, bool)
    m[y, x0:x1 + 1] = True
    return m


def test_path_length_counts_straight_steps_one_and_diagonal_steps_root2():
    assert skeleton_path_length(hline(5, 2, 42)) == pytest.approx(40.0)
    d = np.zeros((20, 20), bool)
    d[np.arange(11), np.arange(11)] = True
    assert skeleton_path_length(d) == pytest.approx(10 * math.sqrt(2))
    corner = np.zeros((5, 5), bool)
    corner[1, 1] = corner[1, 2] = corner[2, 2] = True  # an L: 1 + 1, not 1 + 1 + sqrt(2)
    assert skeleton_path_length(corner) == pytest.approx(2.0)
    assert skeleton_path_length(np.zeros((4, 4), bool)) == 0.0


def test_skeleton_length_of_thick_lines_is_close_to_the_drawn_length():
    for angle in (0, 30, 45, 80):
        a = np.deg2rad(angle)
        pts = np.array([[20, 20], [20 + 60 * np.cos(a), 20 + 60 * np.sin(a)]])
        m = rasterize_polyline(pts, (100, 100), 3.0)
        assert skeleton_length(m) == pytest.approx(60, rel=0.12), angle


def test_specks_are_removed_before_measuring():
    m = hline(5, 2, 42)
    m[30, 30] = m[31, 31] = True  # a 2-px speck
    assert skeleton_length(m) == pytest.approx(40.0)
    assert not clean_mask(m)[30, 30]


def test_identical_prediction_scores_one():
    t = np.stack([hline(5, 2, 42), hline(20, 10, 50), hline(35, 5, 30)])
    pred = t.astype(np.float32) * 0.9
    s = evaluate_image(pred[[2, 0, 1]], t)
    assert s.score == pytest.approx(1.0)
    assert s.matches == (1, 2, 0)
    assert s.duplicates == 0 and s.n_pred == 3 and s.iou == pytest.approx(1.0)


def test_half_length_prediction_scores_one_half():
    t = hline(10, 2, 42)[None]  # 40 px
    pred = hline(10, 2, 22)[None].astype(np.float32)  # 20 px
    s = evaluate_image(pred, t)
    assert s.true_lengths[0] == pytest.approx(40) and s.pred_lengths[0] == pytest.approx(20)
    assert s.score == pytest.approx(0.5)
    assert length_score(60, 40) == pytest.approx(0.5)
    assert length_score(100, 40) == 0.0  # never negative
    assert math.isnan(length_score(5, 0))


def test_empty_and_missing_predictions_score_zero():
    t = np.stack([hline(5, 2, 42), hline(20, 10, 50)])
    pred = np.zeros((3, 48, 64), np.float32)
    pred[0] = t[0]
    s = evaluate_image(pred, t)
    assert s.per_mask == pytest.approx((1.0, 0.0))
    assert s.score == pytest.approx(0.5)
    # more true masks than predictions: the unmatched one scores 0
    s2 = evaluate_image(t[:1].astype(np.float32), t)
    assert s2.matches[1] == -1 and s2.per_mask[1] == 0.0


def test_duplicates_and_union_iou():
    t = np.stack([hline(5, 2, 42), hline(20, 10, 50)])
    pred = np.zeros((5, 48, 64), np.float32)
    pred[0], pred[1], pred[2], pred[3] = t[0], t[1], t[0], t[1]  # every line twice
    pred[4, 40, 40] = 0.9  # a speck is not a mask
    s = evaluate_image(pred, t)
    assert s.n_pred == 4 and s.duplicates == 2 and s.score == pytest.approx(1.0)
    p = np.zeros((1, 10, 10), np.float32); p[0, :, :5] = 1
    tt = np.zeros((1, 10, 10), bool); tt[0, :, 3:8] = True
    assert union_iou(p, tt) == pytest.approx(20 / 80)
    assert union_iou(np.zeros((2, 4, 4)), np.zeros((0, 4, 4), bool)) == 1.0


def test_matching_follows_the_dice_matrix():
    t = np.stack([hline(5, 2, 42), hline(20, 10, 50)])
    L = dice_loss_matrix_np(np.stack([t[1], t[0]]).astype(np.float32), t)
    assert L.shape == (2, 2) and L[0, 1] == pytest.approx(0.0) and L[0, 0] > 0.98
    assert match_greedy(L).tolist() == [1, 0] and match_hungarian(L).tolist() == [1, 0]
    assert match_greedy(np.zeros((3, 2))).tolist()[2] == -1


def test_image_without_dislocations_is_left_out_of_the_dataset_metric():
    t = hline(10, 2, 42)[None]
    good = evaluate_image(t.astype(np.float32), t)
    none = evaluate_image(np.zeros((2, 48, 64), np.float32), np.zeros((0, 48, 64), bool))
    assert math.isnan(none.score) and none.duplicates == 0 and none.iou == 1.0
    half = evaluate_image(hline(10, 2, 22)[None].astype(np.float32), t)
    s = summarize([good, none, half])
    assert s["metric"] == pytest.approx(0.75) and s["n_images"] == 3
    rows = score_by_count([good, none, half])
    assert rows == [{"n_dislocations": 1, "n_images": 2, "mean": 0.75, "median": 0.75, "q25": 0.625,
                     "q75": 0.875, "min": 0.5, "max": 1.0}]
