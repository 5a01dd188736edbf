"""Inference: frames of any size in, N mask probabilities per pixel out.

:class:`Predictor` is the one entry point for everything that runs the
network on frames (batch segmentation, the GUI, evaluation, testing during
training). Frames up to ``max_side`` px a side are padded by reflection to
a multiple of 32 px and cropped back; larger frames are cut into
overlapping tiles whose masks are stitched back by matching them in the
overlaps (the frame is never resized, which would thin lines away).

:meth:`Predictor.iter_tiles` streams the probabilities of one frame tile
by tile instead, never holding more than a batch of tiles: what
:mod:`core.analysis.tiled` uses to segment frames of any size in bounded
memory, each tile with its own N masks.

A predictor may look at another view of each frame (``mirror``: "h", "v",
"hv", or these after a transpose "t"; :meth:`Predictor.mirrored`): the
network sees the mirrored input and its masks are turned back into the
frame. A model trained with flipped and quarter-turned frames finds partly
other lines in each view; pooling the views' splines finds more lines
(``disloc segment --mirrors``, :mod:`core.learn.mirrors`).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike
from .metrics import THRESHOLD, dice_loss_matrix_np, match_hungarian
from .mirrors import check_mirror, mirror_array

log = logging.getLogger(__name__)

#: Frames per forward pass unless a job says otherwise (segment, evaluate, the CLI).
DEFAULT_BATCH_SIZE = 4

# bf16 must reproduce the fp32 masks this closely to be used (Dice of the
# binarised masks, and the mean absolute probability difference).
BF16_MIN_DICE = 0.98
BF16_MAX_MEAN_ABS = 0.01


def bf16_supported(device) -> bool:
    """Whether bf16 autocast is fast and available on ``device`` (a torch.device)."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def pick_device(device=None):
    """``None``/"auto" -> CUDA when available, else the CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of side ``tile`` start along a side of ``length`` px, neighbours overlapping by >= ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


def frame_stats(frame: np.ndarray, rows: int = 256) -> tuple[float, float]:
    """Mean and standard deviation of a frame in float64, a band of rows at a time (no full-size copy)."""
    n = frame.size
    total = 0.0
    for r in range(0, frame.shape[0], rows):
        total += float(frame[r:r + rows].sum(dtype=np.float64))
    mean = total / n
    sq = 0.0
    for r in range(0, frame.shape[0], rows):
        d = frame[r:r + rows].astype(np.float64) - mean
        sq += float(np.einsum("ij,ij->", d, d))
    return mean, math.sqrt(sq / n)


def _cores(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """The part of each tile it writes: up to the middle of its overlap with each neighbour."""
    out = []
    for i, s in enumerate(starts):
        a = 0 if i == 0 else (s + starts[i - 1] + tile) // 2
        b = length if i == len(starts) - 1 else (starts[i + 1] + s + tile) // 2
        out.append((a, b))
    return out


def stitch_tiles(shape: tuple[int, int], n_masks: int, tile: int, overlap: int,
                 predict_tiles: Callable[[list[tuple[int, int]]], np.ndarray],
                 threshold: float = THRESHOLD, batch: int = 1) -> np.ndarray:
    """Assemble N instance masks of a large frame from overlapping tiles.

    The network numbers its masks afresh in every tile, so a tile's mask is
    given the frame channel it overlaps best (soft Dice loss < 0.5 in the
    region already written, the paper's same-dislocation criterion), or a
    free channel when it continues nothing. Each tile writes only its core
    (up to the middle of each overlap), where its context is best. Masks
    with no pixel above ``threshold`` in a tile are left out; when all N
    channels are taken, further dislocations are dropped with a warning.

    Parameters
    ----------
    shape : (H, W)
        Frame size, px (each side at least ``tile``).
    predict_tiles : callable
        Takes a list of tile origins (y, x) and returns their probabilities
        (len, N, tile, tile).
    batch : int
        Tiles asked for per call.

    Returns
    -------
    (N, H, W) float32
    """
    h, w = shape
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    ycores, xcores = _cores(ys, tile, h), _cores(xs, tile, w)
    out = np.zeros((n_masks, h, w), np.float32)
    written = np.zeros((h, w), bool)
    used = np.zeros(n_masks, bool)
    dropped = 0
    order = [(yi, xi) for yi in range(len(ys)) for xi in range(len(xs))]
    chunk: list = []
    for n, (yi, xi) in enumerate(order):
        y, x = ys[yi], xs[xi]
        if not chunk:  # predict the next few tiles in one batch; stitching stays in raster order
            chunk = list(predict_tiles([(ys[a], xs[b]) for a, b in order[n:n + batch]]))
        probs = chunk.pop(0)
        (cy0, cy1), (cx0, cx1) = ycores[yi], xcores[xi]
        live = [k for k in range(n_masks) if probs[k].max() > threshold]
        if not live:
            written[cy0:cy1, cx0:cx1] = True
            continue
        seen = written[y:y + tile, x:x + tile]
        target = np.full(len(live), -1)
        if seen.any() and used.any():
            chans = np.nonzero(used)[0]
            g = out[chans, y:y + tile, x:x + tile][:, seen]
            t = probs[live][:, seen]
            cost = dice_loss_matrix_np(g, t)
            # Two masks both empty in the overlap "agree" under a smoothed Dice; they continue nothing.
            cost[(t > threshold).astype(np.float32) @ (g > threshold).T.astype(np.float32) == 0] = 1.0
            rows = match_hungarian(cost)
            for r, c in enumerate(rows):
                if c >= 0 and cost[r, c] < 0.5:
                    target[r] = chans[c]
        for r, k in enumerate(live):
            c = target[r]
            core = probs[k, cy0 - y:cy1 - y, cx0 - x:cx1 - x]
            if c < 0:
                if not core.max() > threshold:
                    continue  # only in the margin: a neighbouring tile owns it
                free = np.nonzero(~used)[0]
                if not len(free):
                    dropped += 1
                    continue
                c = free[0]
                used[c] = True
            region = out[c, cy0:cy1, cx0:cx1]
            np.maximum(region, core, out=region)
        written[cy0:cy1, cx0:cx1] = True
    if dropped:
        log.warning("frame %dx%d: more dislocations than the %d masks; %d tile masks were dropped",
                    h, w, n_masks, dropped)
    return out


class Predictor:
    """Runs a trained network on gray frames.

    Parameters
    ----------
    model : path or (torch.nn.Module, dict)
        A checkpoint file, or a network with its checkpoint header (as
        returned by :func:`core.learn.model.load_checkpoint`).
    device : str or torch.device, optional
        ``None``/"auto": CUDA when available, else the CPU.
    batch_size : int
        Frames (or tiles) per forward pass.
    precision : str
        ``"auto"``: bf16 autocast where the hardware supports it *and* a check
        on the first batch finds the bf16 masks equal to the fp32 ones
        (see :attr:`bf16_check`); ``"fp32"``; ``"bf16"`` (no check).
    max_side : int
        Frames with a side above this (px) are tiled.
    tile_size, overlap : int
        Tile side and overlap, px (tile a multiple of 32).
    mirror : str
        "" (the frame as it is), "h", "v" or "hv": the network sees the
        frame flipped left-right, upside down or both, and its masks are
        flipped back, so probabilities are always in the frame's pixels;
        "t", "th", "tv", "thv": the same after transposing the frame.

    Examples
    --------
    >>> p = Predictor("run/best.pt")
    >>> probs = p.predict(frame)          # frame float32 (H, W) in [0, 1]
    >>> probs.shape                       # (1, N, H, W) float32 in [0, 1]
    """

    def __init__(self, model, device=None, batch_size: int = DEFAULT_BATCH_SIZE, precision: str = "auto",
                 max_side: int = 1024, tile_size: int = 512, overlap: int = 64, mirror: str = "") -> None:
        import torch

        from .model import SIZE_MULTIPLE, load_checkpoint

        if precision not in ("auto", "fp32", "bf16"):
            raise DislocError(f"precision must be auto, fp32 or bf16, got {precision!r}")
        self.mirror = check_mirror(mirror)
        self._views = {self.mirror: self}  # this network's views (:meth:`mirrored`), shared by all of them
        if tile_size % SIZE_MULTIPLE or tile_size <= overlap * 2:
            raise DislocError(f"tile_size must be a multiple of {SIZE_MULTIPLE} px and more than twice the overlap")
        self.device = pick_device(device)
        if isinstance(model, (tuple, list)):
            net, header = model
            self.model = net.to(self.device)
        else:
            self.model, header = load_checkpoint(model, self.device)
        self.header = dict(header)
        self.model.eval()
        self.model.to(memory_format=torch.channels_last)
        self.n_masks = int(self.header["n_masks"])
        self.normalization = self.header.get("normalization") or {"kind": "per_image", "eps": 1e-3}
        self.multiple = int(self.header.get("size_multiple", SIZE_MULTIPLE))
        self.batch_size = max(1, int(batch_size))
        self.max_side, self.tile_size, self.overlap = int(max_side), int(tile_size), int(overlap)
        self.bf16_check: Optional[dict] = None
        if precision == "bf16" or (precision == "auto" and bf16_supported(self.device)):
            self.precision = "bf16" if precision == "bf16" else "check"
        else:
            self.precision = "fp32"

    @property
    def precision_used(self) -> str:
        """"fp32" or "bf16" ("check" until the first batch has been compared)."""
        return self.precision

    # ------------------------------------------------------------ forward
    def mirrored(self, mirror: str) -> "Predictor":
        """The same network looking at another view of the frames (see ``mirror``); weights are shared.

        Each view is made once and kept, so asking again (the app's F5 on
        every frame) returns the same predictor, with its bf16/fp32
        decision already taken.
        """
        import copy

        mirror = check_mirror(mirror)
        if mirror not in self._views:
            other = copy.copy(self)
            other.mirror = mirror
            self._views[mirror] = other
        return self._views[mirror]

    def _run(self, batch: np.ndarray, bf16: bool) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch[:, None], np.float32)).to(self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            y = torch.sigmoid(self.model(x).float())
        return y.cpu().numpy()

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(B, H, W) normalised frames, H and W multiples of 32 -> (B, N, H, W) probabilities."""
        if self.precision == "check":
            t0 = time.perf_counter()
            p32 = self._run(batch, False)
            t1 = time.perf_counter()
            p16 = self._run(batch, True)
            t2 = time.perf_counter()
            self.bf16_check = _compare(p32, p16, t1 - t0, t2 - t1)
            self.precision = "bf16" if self.bf16_check["passed"] else "fp32"
            log.info("bf16 check: %s -> using %s", self.bf16_check, self.precision)
            return p32
        return self._run(batch, self.precision == "bf16")

    # ------------------------------------------------------------ public
    def predict(self, frames, scale: float = 1.0) -> np.ndarray:
        """Mask probabilities of gray frames.

        Parameters
        ----------
        frames : array (H, W) or (B, H, W), or a list of (H, W) arrays of one size
            Gray frames, float in [0, 1], any size (px).
        scale : float
            Resample the frames by this factor before the network (2: lines
            twice as wide, as the model saw them in training; see
            :func:`core.analysis.scale.auto_scale`); the probabilities are
            resampled back, so they are always in the frame's pixels.

        Returns
        -------
        (B, N, H, W) float32 in [0, 1]
            One probability map per mask; masks may overlap. Threshold at 0.5.
        """
        try:
            frames = np.asarray(frames, dtype=np.float32)
        except ValueError:
            raise DislocError("frames of different sizes in one call; predict them one at a time") from None
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1] < 1 or frames.shape[2] < 1:
            raise DislocError(f"frames must be (H, W) or (B, H, W) gray images, got shape {frames.shape}")
        if not np.all(np.isfinite(frames)):
            raise DislocError("frames contain NaN or infinite values; load images with core.io.dataset.load_image")
        if self.mirror:  # the mirror image goes through as any frame would (padded at its own bottom and right)
            probs = self._predict(np.ascontiguousarray(mirror_array(frames, self.mirror)), scale)
            return np.ascontiguousarray(mirror_array(probs, self.mirror, back=True))
        return self._predict(frames, scale)

    def _predict(self, frames: np.ndarray, scale: float) -> np.ndarray:
        """:meth:`predict` of checked (B, H, W) float32 frames, as the network sees them (no mirror)."""
        if scale != 1.0:
            return self._predict_scaled(frames, float(scale))
        from .model import normalize

        b, h, w = frames.shape
        normed = normalize(frames.astype(np.float64), self.normalization).astype(np.float32)
        if max(h, w) > self.max_side:
            return np.stack([self._predict_tiled(f) for f in normed])
        ph, pw = -h % self.multiple, -w % self.multiple
        padded = np.pad(normed, ((0, 0), (0, ph), (0, pw)), mode="reflect") if (ph or pw) else normed
        out = np.empty((b, self.n_masks, h, w), np.float32)
        for i in range(0, b, self.batch_size):
            out[i:i + self.batch_size] = self._forward(padded[i:i + self.batch_size])[:, :, :h, :w]
        return out

    def _predict_scaled(self, frames: np.ndarray, scale: float) -> np.ndarray:
        """Predict on frames resampled by ``scale``, probabilities resampled back to (H, W)."""
        import torch
        import torch.nn.functional as F

        if not (math.isfinite(scale) and scale > 0):
            raise DislocError(f"scale must be a positive number, got {scale!r}")
        b, h, w = frames.shape
        size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
        # antialiased when shrinking, so thin lines are averaged rather than skipped
        small = F.interpolate(torch.from_numpy(frames)[:, None], size=size, mode="bilinear", align_corners=False,
                              antialias=scale < 1.0)[:, 0].numpy()
        probs = self._predict(np.clip(small, 0.0, 1.0), 1.0)
        out = np.empty((b, self.n_masks, h, w), np.float32)
        for i in range(b):  # one frame at a time: N full-size maps are the largest array held
            out[i] = F.interpolate(torch.from_numpy(probs[i:i + 1]), size=(h, w), mode="bilinear",
                                   align_corners=False, antialias=scale > 1.0)[0].numpy()
        return np.clip(out, 0.0, 1.0, out=out)

    def _predict_tiled(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape
        t = self.tile_size
        ph, pw = max(0, t - h), max(0, t - w)  # a long thin frame: pad the short side up to one tile
        f = np.pad(frame, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else frame

        def tiles(origins: list[tuple[int, int]]) -> np.ndarray:
            return self._forward(np.stack([f[y:y + t, x:x + t] for y, x in origins]))

        return stitch_tiles(f.shape, self.n_masks, t, self.overlap, tiles, batch=self.batch_size)[:, :h, :w]

    def use_precision(self, precision: str) -> None:
        """Use ``"fp32"`` or ``"bf16"`` from now on, without a check (a resumed run reuses its first decision)."""
        if precision not in ("fp32", "bf16"):
            raise DislocError(f"precision must be fp32 or bf16, got {precision!r}")
        if precision == "bf16" and not bf16_supported(self.device):
            log.warning("this run was started in bf16, which %s lacks: going on in fp32", self.device)
            precision = "fp32"
        self.precision = precision

    def iter_tiles(self, frame: np.ndarray, tile_px: int, overlap_px: int, scale: float = 1.0):
        """Stream one frame's probabilities, tile by tile.

        Parameters
        ----------
        frame : ndarray float (H, W) in [0, 1]
            A gray frame of any size (px).
        tile_px, overlap_px : int
            Tile side and least overlap of neighbours as the network sees
            them (px; the side a multiple of 32).
        scale : float
            Resample by this factor before the network: tiles are then
            ``tile_px / scale`` frame px a side and resampled to ``tile_px``
            (see :meth:`predict`); probabilities come back in frame px.

        Yields
        ------
        (y, x, probs)
            Tile origin in the frame (px) and float32 (N, h, w) probabilities
            of the tile's part of the frame, in raster order. At most one
            batch of tiles is held: memory does not grow with the frame.
        """
        frame = np.asarray(frame, dtype=np.float32)
        if frame.ndim != 2 or min(frame.shape) < 1:
            raise DislocError(f"a frame must be a (H, W) gray image, got shape {frame.shape}")
        if not all(np.isfinite(frame[r:r + 256]).all() for r in range(0, frame.shape[0], 256)):
            raise DislocError("frames contain NaN or infinite values; load images with core.io.dataset.load_image")
        if tile_px % self.multiple or tile_px <= 2 * overlap_px:
            raise DislocError(f"tile side must be a multiple of {self.multiple} px and more than twice the overlap")
        if not (math.isfinite(scale) and scale > 0):
            raise DislocError(f"scale must be a positive number, got {scale!r}")
        h, w = frame.shape
        t0 = max(2, int(round(tile_px / scale)))  # tile side and overlap in frame px
        o0 = min(int(round(overlap_px / scale)), t0 // 2 - 1)
        ph, pw = max(0, t0 - h), max(0, t0 - w)  # a frame smaller than a tile: mirrored up to one tile
        f = np.pad(frame, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else frame
        tile_input = self._tile_normalizer(frame, f, t0, tile_px, scale)
        origins = [(y, x) for y in tile_starts(f.shape[0], t0, o0) for x in tile_starts(f.shape[1], t0, o0)]
        for i in range(0, len(origins), self.batch_size):
            chunk = origins[i:i + self.batch_size]
            probs = self._forward(np.stack([mirror_array(tile_input(y, x), self.mirror) for y, x in chunk]))
            for (y, x), p in zip(chunk, probs):
                p = mirror_array(p, self.mirror, back=True)  # the tile's masks, back in the frame's orientation
                if t0 != tile_px:
                    p = _resample(p, (t0, t0), antialias=t0 < tile_px)
                yield y, x, p[:, :min(t0, h - y), :min(t0, w - x)]

    def _tile_normalizer(self, frame: np.ndarray, padded: np.ndarray, t0: int, side: int, scale: float):
        """A function (y, x) -> the normalised network input (side, side) of the tile at (y, x) of ``padded``.

        Per-frame statistics come from the whole frame, as when it is
        predicted whole; local normalisation runs on the tile with a margin
        of context wide enough for its blurs.
        """
        from .model import local_normalize

        norm = self.normalization
        kind = norm.get("kind")
        if kind == "per_image":
            mean, std = frame_stats(frame)
            a, b = mean, std + float(norm.get("eps", 1e-3))
        elif kind == "fixed":
            a, b = float(norm["mean"]), float(norm["std"])
        elif kind != "local":
            raise DislocError(f"unknown normalisation {kind!r} in the checkpoint header; update Dislocation Studio")
        sig_bg, sig_std = float(norm.get("sigma_bg", 12.0)) / scale, float(norm.get("sigma_std", 24.0)) / scale
        margin = int(math.ceil(4 * (sig_bg + sig_std)))

        def tile_input(y: int, x: int) -> np.ndarray:
            if kind == "local":
                H, W = padded.shape
                y0, y1, x0, x1 = max(y - margin, 0), min(y + t0 + margin, H), max(x - margin, 0), min(x + t0 + margin, W)
                region = local_normalize(padded[y0:y1, x0:x1], sig_bg, sig_std, float(norm.get("eps", 0.05)))
                tile = region[y - y0:y - y0 + t0, x - x0:x - x0 + t0]
            else:
                tile = ((padded[y:y + t0, x:x + t0].astype(np.float64) - a) / b).astype(np.float32)
            if t0 != side:
                tile = _resample(tile[None], (side, side), antialias=side < t0)[0]
            return tile

        return tile_input


def _resample(a: np.ndarray, size: tuple[int, int], antialias: bool) -> np.ndarray:
    """Bilinear resampling of (C, h, w) float32 to (C, *size)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(a, np.float32))[None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=antialias)[0].numpy()


def _compare(p32: np.ndarray, p16: np.ndarray, t32: float, t16: float) -> dict:
    b32, b16 = p32 > THRESHOLD, p16 > THRESHOLD
    inter, tot = np.count_nonzero(b32 & b16), np.count_nonzero(b32) + np.count_nonzero(b16)
    dice = 1.0 if tot == 0 else 2.0 * inter / tot
    mean_abs = float(np.abs(p32 - p16).mean())
    return {"dice_binary": round(float(dice), 5), "mean_abs": round(mean_abs, 6),
            "max_abs": round(float(np.abs(p32 - p16).max()), 5), "fp32_s": round(t32, 4), "bf16_s": round(t16, 4),
            "passed": bool(dice >= BF16_MIN_DICE and mean_abs <= BF16_MAX_MEAN_ABS)}


def predict_frames(checkpoint: PathLike, frames: Sequence[np.ndarray], **kwargs) -> list[np.ndarray]:
    """Convenience: probabilities (N, H, W) for each frame of a list of frames of any sizes."""
    p = Predictor(checkpoint, **kwargs)
    return [p.predict(f)[0] for f in frames]
