"""The matching Dice loss (paper Algorithm 1) and its optimal-assignment variants.

The network predicts N masks in no particular order; an image has M true
masks. All M x N soft Dice losses of a batch come from one batched matrix
product; the matching (which prediction belongs to which true mask) is
then found on that small detached matrix, and the loss is the mean Dice
loss of the matched pairs, gathered from the matrix so gradients flow.

Names (:data:`LOSSES`):

``"greedy"``
    The paper: true masks in their stored order each take the remaining
    prediction with the smallest Dice loss.
``"hungarian"``
    Optimal assignment (least total Dice loss) on the same matrix.
``"hungarian+empty"``
    Hungarian plus ``empty_weight`` x the mean "emptiness loss" of the
    predictions left unmatched: ``A / (A + A_ref)``, with ``A`` the soft area
    of the mask (sum of probabilities, px) and ``A_ref`` the mean area of the
    image's true masks -- the Dice loss of that mask against an empty mask
    smoothed at the size of one dislocation. It pushes duplicates towards
    empty with a gradient as strong as the matched Dice term's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import DislocError
from .metrics import DICE_SMOOTH, match
from .trainconfig import DEFAULT_EMPTY_WEIGHT, DEFAULT_LOSS, LOSSES


def dice_loss_matrix(pred: torch.Tensor, true: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """Soft Dice loss of every true mask against every predicted mask, for a whole batch.

    Parameters
    ----------
    pred : (B, N, H, W) tensor
        Predicted probabilities in [0, 1].
    true : (B, M, H, W) tensor
        True masks (0/1, any dtype).
    smooth : float
        Added to numerator and denominator (px).

    Returns
    -------
    (B, M, N) float32 tensor
        One ``bmm`` for all intersections; differentiable in ``pred``.
    """
    p = pred.flatten(2).float()
    t = true.flatten(2).to(p.dtype)
    inter = torch.bmm(t, p.transpose(1, 2))
    denom = t.sum(-1).unsqueeze(2) + p.sum(-1).unsqueeze(1)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


def skeleton(masks: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Skeletons of 0/1 masks (skimage's thinning, one mask at a time; ~0.4 ms per 256 px mask).

    Parameters
    ----------
    masks : (B, M, H, W) tensor
        True masks, 0/1.
    valid : (B, M) bool tensor, optional
        Masks to thin; the others (padding) stay empty.

    Returns
    -------
    (B, M, H, W) float32 tensor, 0/1, on the masks' device (true masks need no gradient).
    """
    from skimage.morphology import skeletonize

    m = masks.detach().cpu().numpy() > 0
    out = np.zeros(m.shape, np.float32)
    ok = np.ones(m.shape[:2], bool) if valid is None else valid.detach().cpu().numpy().astype(bool)
    for k, i in zip(*np.nonzero(ok & m.any(axis=(2, 3)))):
        out[k, i] = skeletonize(m[k, i])
    return torch.from_numpy(out).to(masks.device)


def skeleton_recall_matrix(pred: torch.Tensor, skel: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """(B, M, N) skeleton recall loss ``1 - sum(p s) / sum(s)`` of every true skeleton against every prediction."""
    p = pred.flatten(2).float()
    s = skel.flatten(2).to(p.dtype)
    inter = torch.bmm(s, p.transpose(1, 2))
    return 1.0 - (inter + smooth) / (s.sum(-1).unsqueeze(2) + smooth)


@dataclass
class LossParts:
    """What a loss evaluation found, for logging (floats, detached)."""

    matched: float  # mean Dice loss of matched true masks (the paper's loss)
    empty: float  # mean emptiness loss of unmatched predictions (0 unless "+empty")
    matches: list  # per image: (M_b,) int array of predicted index per true mask


def matching_dice_loss(pred: torch.Tensor, true: torch.Tensor, valid: torch.Tensor | None = None, *,
                       method: str = "greedy", empty_weight: float = DEFAULT_EMPTY_WEIGHT,
                       smooth: float = DICE_SMOOTH, skeleton_weight: float = 0.0) -> tuple[torch.Tensor, LossParts]:
    """Matching Dice loss of a batch.

    Parameters
    ----------
    pred : (B, N, H, W) tensor
        Predicted probabilities (after the sigmoid).
    true : (B, M, H, W) tensor
        True masks, padded to the largest M of the batch.
    valid : (B, M) bool tensor, optional
        Which of the M true masks are real (padding is False); all by default.
    method : str
        ``"greedy"``, ``"hungarian"`` or ``"hungarian+empty"``.
    empty_weight : float
        Weight of the emptiness term (``"hungarian+empty"`` only).
    skeleton_weight : float
        Weight of the skeleton recall term of the matched pairs (0: off);
        the matching itself is by Dice loss either way.

    Returns
    -------
    (loss, parts)
        ``loss`` is a scalar tensor: the mean over images that have true
        masks of their mean matched Dice loss (a true mask left without a
        prediction, M > N, counts 1), plus the weighted emptiness and
        skeleton terms.
    """
    if method not in LOSSES:
        raise DislocError(f"unknown loss {method!r}; choose one of: {', '.join(LOSSES)}")
    b, n = pred.shape[:2]
    m = true.shape[1]
    if valid is None:
        valid = torch.ones(b, m, dtype=torch.bool, device=pred.device)
    L = dice_loss_matrix(pred, true, smooth)  # (B, M, N)
    Lnp = L.detach().float().cpu().numpy()
    vnp = valid.detach().cpu().numpy().astype(bool)
    how = "greedy" if method == "greedy" else "hungarian"
    bi, ii, jj, matches = [], [], [], []
    m_per = np.zeros(b, np.int64)
    unmatched_truth = np.zeros(b, np.float64)
    taken = np.zeros((b, n), bool)
    for k in range(b):  # a loop over images and (inside match) over M indices, never over pixels
        rows = np.nonzero(vnp[k])[0]
        m_per[k] = len(rows)
        if not len(rows):
            matches.append(np.zeros(0, np.int64))
            continue
        cols = match(Lnp[k][rows], how)
        matches.append(cols)
        ok = cols >= 0
        unmatched_truth[k] = np.count_nonzero(~ok)
        bi.extend([k] * int(ok.sum()))
        ii.extend(rows[ok].tolist())
        jj.extend(cols[ok].tolist())
        taken[k, cols[ok]] = True
    dev = pred.device
    per_image = torch.zeros(b, device=dev, dtype=L.dtype)
    if bi:
        sel = (torch.as_tensor(bi, device=dev), torch.as_tensor(ii, device=dev), torch.as_tensor(jj, device=dev))
        vals = L[sel]
        if skeleton_weight > 0:
            vals = vals + skeleton_weight * skeleton_recall_matrix(pred, skeleton(true, valid))[sel]
        per_image = per_image.index_add(0, sel[0], vals)
    # a true mask left without a prediction counts as fully lost, in each term
    per_image = per_image + torch.as_tensor(unmatched_truth * (1.0 + max(skeleton_weight, 0.0)), device=dev,
                                            dtype=L.dtype)
    has = torch.as_tensor(m_per > 0, device=dev)
    mper = torch.as_tensor(np.maximum(m_per, 1), device=dev, dtype=L.dtype)
    if bool(has.any()):
        matched = (per_image / mper)[has].mean()
    else:
        matched = pred.sum() * 0.0  # no true mask in the batch: zero, but keep the graph
    loss = matched
    empty_val = 0.0
    if method == "hungarian+empty" and empty_weight > 0:
        area = pred.flatten(2).float().sum(-1)  # (B, N) soft area, px
        t_area = true.flatten(2).float().sum(-1) * valid.to(torch.float32)  # (B, M)
        a_ref = (t_area.sum(1) / valid.sum(1).clamp(min=1)).detach()
        # An image without dislocations: measure emptiness against the batch's typical dislocation.
        fallback = a_ref[has].mean() if bool(has.any()) else torch.tensor(0.002 * pred[0, 0].numel(), device=dev)
        a_ref = torch.where(has, a_ref, fallback).clamp(min=1.0)
        free = torch.as_tensor(~taken, device=dev)
        e = area / (area + a_ref.unsqueeze(1))
        e_img = (e * free).sum(1) / free.sum(1).clamp(min=1)
        empty = e_img.mean()
        loss = matched + empty_weight * empty
        empty_val = float(empty.detach())
    return loss, LossParts(matched=float(matched.detach()), empty=empty_val, matches=matches)


class MatchingDiceLoss(nn.Module):
    """Loss module for training: takes logits, applies the sigmoid in float32.

    Parameters
    ----------
    method : str
        One of :data:`LOSSES`.
    empty_weight : float
        Weight of the emptiness term of ``"hungarian+empty"``.
    skeleton_weight : float
        Weight of the skeleton recall term (0: off).
    """

    def __init__(self, method: str = DEFAULT_LOSS, empty_weight: float = DEFAULT_EMPTY_WEIGHT,
                 skeleton_weight: float = 0.0) -> None:
        super().__init__()
        if method not in LOSSES:
            raise DislocError(f"unknown loss {method!r}; choose one of: {', '.join(LOSSES)}")
        self.method = method
        self.empty_weight = float(empty_weight)
        self.skeleton_weight = float(skeleton_weight)
        self.last: LossParts | None = None

    def forward(self, logits: torch.Tensor, true: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        loss, self.last = matching_dice_loss(torch.sigmoid(logits.float()), true, valid, method=self.method,
                                             empty_weight=self.empty_weight,
                                             skeleton_weight=self.skeleton_weight)
        return loss


def dice_loss_pairwise_loop(pred: torch.Tensor, true: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """The same matrix as :func:`dice_loss_matrix` pair by pair in Python (reference for tests and benchmarks)."""
    b, n = pred.shape[:2]
    m = true.shape[1]
    out = torch.zeros(b, m, n)
    for k in range(b):
        for i in range(m):
            for j in range(n):
                t, p = true[k, i].float(), pred[k, j].float()
                out[k, i, j] = 1.0 - (2.0 * (t * p).sum() + smooth) / (t.sum() + p.sum() + smooth)
    return out
