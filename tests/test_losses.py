"""The matching Dice loss: known answers from hand-made masks."""
import numpy as np
import pytest
import torch

from core.errors import DislocError
from core.learn.losses import LOSSES, MatchingDiceLoss, dice_loss_matrix, dice_loss_pairwise_loop, matching_dice_loss


def bars(h=32, w=32, rows=((4, 10), (14, 20), (24, 30))):
    """Horizontal bars as (K, H, W) float masks."""
    m = torch.zeros(len(rows), h, w)
    for k, (a, b) in enumerate(rows):
        m[k, a:b, 3:29] = 1
    return m


@pytest.mark.parametrize("method", LOSSES)
def test_identical_masks_give_zero_loss(method):
    t = bars()
    pred = torch.zeros(1, 5, 32, 32)
    pred[0, [4, 0, 2]] = t  # the same masks in other slots; the rest empty
    loss, parts = matching_dice_loss(pred, t[None], method=method)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    assert parts.matched == pytest.approx(0.0, abs=1e-6)
    assert sorted(parts.matches[0].tolist()) == [0, 2, 4]


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_disjoint_masks_give_loss_one(method):
    t = bars(rows=((2, 8),))
    pred = bars(rows=((20, 26), (12, 16)))
    loss, _ = matching_dice_loss(pred[None], t[None], method=method)
    # 1 - smooth / (|t| + |p| + smooth), the smaller prediction being the nearest to 1 - 0
    assert float(loss) == pytest.approx(1 - 1 / (156 + 104 + 1), abs=1e-6)
    assert float(loss) > 0.99


def test_permuted_predictions_give_the_same_loss_under_hungarian():
    g = torch.Generator().manual_seed(0)
    t = (torch.rand(1, 4, 24, 24, generator=g) > 0.7).float()
    pred = torch.rand(1, 6, 24, 24, generator=g)
    base, _ = matching_dice_loss(pred, t, method="hungarian")
    for perm in ([5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 3, 4]):
        loss, _ = matching_dice_loss(pred[:, perm], t, method="hungarian")
        assert float(loss) == pytest.approx(float(base), abs=1e-6)


def test_hungarian_beats_greedy_where_the_order_misleads():
    # True A lies under both predictions (P0 better); true B only under P0.
    # Greedy gives P0 to A and leaves B with P1 (disjoint, loss ~1);
    # the optimal assignment gives A -> P1, B -> P0.
    a = torch.zeros(20, 20); a[2:6, 2:18] = 1
    b = torch.zeros(20, 20); b[8:12, 2:18] = 1
    p0 = ((a + b) > 0).float()
    p1 = torch.zeros(20, 20); p1[2:6, 2:6] = 1
    t = torch.stack([a, b])[None]
    pred = torch.stack([p0, p1])[None]
    g, gp = matching_dice_loss(pred, t, method="greedy")
    h, hp = matching_dice_loss(pred, t, method="hungarian")
    assert gp.matches[0].tolist() == [0, 1] and hp.matches[0].tolist() == [1, 0]
    assert float(h) < float(g) - 0.15


def test_batched_matrix_equals_the_pairwise_loop_and_passes_gradients():
    g = torch.Generator().manual_seed(1)
    pred = torch.rand(2, 5, 16, 16, generator=g, requires_grad=True)
    true = (torch.rand(2, 3, 16, 16, generator=g) > 0.6).float()
    L = dice_loss_matrix(pred, true)
    assert L.shape == (2, 3, 5)
    assert torch.allclose(L, dice_loss_pairwise_loop(pred.detach(), true), atol=1e-5)
    loss, _ = matching_dice_loss(pred, true, method="hungarian")
    loss.backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_variable_mask_count_per_image_is_padding_invariant():
    g = torch.Generator().manual_seed(2)
    pred = torch.rand(2, 4, 16, 16, generator=g)
    t1 = (torch.rand(1, 16, 16, generator=g) > 0.5).float()
    t2 = (torch.rand(3, 16, 16, generator=g) > 0.5).float()
    padded = torch.zeros(2, 3, 16, 16)
    padded[0, :1], padded[1] = t1, t2
    valid = torch.tensor([[True, False, False], [True, True, True]])
    for method in LOSSES:
        both, _ = matching_dice_loss(pred, padded, valid, method=method)
        one, _ = matching_dice_loss(pred[:1], t1[None], method=method)
        two, _ = matching_dice_loss(pred[1:], t2[None], method=method)
        assert float(both) == pytest.approx((float(one) + float(two)) / 2, abs=1e-5), method


def test_images_without_dislocations_do_not_break_the_loss():
    pred = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss, _ = matching_dice_loss(pred, torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, dtype=torch.bool),
                                 method="hungarian+empty")
    assert torch.isfinite(loss) and float(loss.detach()) > 0  # only the emptiness term: non-empty masks cost
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_more_true_masks_than_predictions_count_one_each():
    t = bars()  # 3 true masks
    pred = t[:2][None].clone()  # 2 perfect predictions
    loss, parts = matching_dice_loss(pred, t[None], method="greedy")
    assert float(loss) == pytest.approx(1 / 3, abs=1e-6)
    assert parts.matches[0].tolist()[2] == -1


def test_empty_term_penalises_duplicates_and_not_empty_masks():
    t = bars(rows=((4, 10),))
    clean = torch.zeros(1, 3, 32, 32); clean[0, 0] = t[0]
    dup = clean.clone(); dup[0, 2] = t[0]  # the same line twice
    l_clean, p_clean = matching_dice_loss(clean, t[None], method="hungarian+empty", empty_weight=1.0)
    l_dup, p_dup = matching_dice_loss(dup, t[None], method="hungarian+empty", empty_weight=1.0)
    assert float(l_clean) == pytest.approx(0.0, abs=1e-6)
    # one of two unmatched masks is a whole dislocation: A / (A + A) = 0.5, mean over 2 = 0.25
    assert p_dup.empty == pytest.approx(0.25, abs=1e-6)
    assert float(l_dup) == pytest.approx(0.25, abs=1e-6)
    # plain hungarian does not see duplicates at all
    assert float(matching_dice_loss(dup, t[None], method="hungarian")[0]) == pytest.approx(0.0, abs=1e-6)


def test_module_takes_logits_and_unknown_names_list_the_valid_ones():
    t = bars(rows=((4, 10),))
    logits = torch.where(t[None] > 0, 30.0, -30.0)
    assert float(MatchingDiceLoss("greedy")(logits, t[None])) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(DislocError, match="hungarian\\+empty"):
        MatchingDiceLoss("best")
    with pytest.raises(DislocError, match="greedy"):
        matching_dice_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), method="nope")


def test_loss_is_deterministic_for_ties():
    pred = torch.zeros(1, 4, 8, 8)
    t = torch.ones(1, 2, 8, 8)
    a = matching_dice_loss(pred, t, method="greedy")[1].matches[0]
    b = matching_dice_loss(pred, t, method="greedy")[1].matches[0]
    assert np.array_equal(a, b) and len(set(a.tolist())) == 2


def test_skeleton_term_prefers_the_whole_length_of_a_line_over_an_equally_good_dice():
    """A thin mask along the whole line and a full-width mask that stops short have the same Dice loss;
    only the skeleton recall term tells them apart, and it prefers the whole length."""
    t = torch.zeros(1, 1, 32, 64)
    t[0, 0, 10:15, 5:55] = 1  # a line 5 px wide, 50 px long: 250 px
    thin = torch.zeros(1, 2, 32, 64); thin[0, 0, 11:14, 5:55] = 1  # 3 x 50 = 150 px, whole length
    short = torch.zeros(1, 2, 32, 64); short[0, 0, 10:15, 5:35] = 1  # 5 x 30 = 150 px, stops 20 px short
    d_thin = float(matching_dice_loss(thin, t, method="hungarian")[0])
    d_short = float(matching_dice_loss(short, t, method="hungarian")[0])
    assert d_thin == pytest.approx(d_short, abs=1e-6)
    s_thin = float(matching_dice_loss(thin, t, method="hungarian", skeleton_weight=1.0)[0])
    s_short = float(matching_dice_loss(short, t, method="hungarian", skeleton_weight=1.0)[0])
    assert s_thin == pytest.approx(d_thin, abs=0.02)  # the thin mask covers the whole skeleton
    assert s_short > s_thin + 0.3  # about 40 % of the skeleton missed
    # padding masks stay out of it, and the gradient reaches the prediction
    pad = torch.cat([t, torch.zeros_like(t)], 1)
    valid = torch.tensor([[True, False]])
    p = short.clone().requires_grad_(True)
    loss, _ = matching_dice_loss(p, pad, valid, method="hungarian", skeleton_weight=1.0)
    assert float(loss.detach()) == pytest.approx(s_short, abs=1e-5)
    loss.backward()
    assert float(p.grad[0, 0, 12, 45]) < 0  # more probability at the missed end lowers the loss


def test_skeleton_weight_is_checked_in_the_train_config():
    from core.learn.trainconfig import TrainConfig
    assert TrainConfig(annotations=("a",), skeleton_weight=0.5).skeleton_weight == 0.5
    with pytest.raises(DislocError, match="skeleton_weight"):
        TrainConfig(annotations=("a",), skeleton_weight=-1)
