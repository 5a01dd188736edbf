"""The segmentation network and its one checkpoint format.

The network is a U-Net++ (segmentation-models-pytorch) that takes one gray
frame and returns ``n_masks`` logits per pixel, one channel per possible
dislocation; a sigmoid turns them into probabilities (masks may overlap).

A checkpoint is ``torch.save`` of a plain dict::

    {"header": {...JSON-able...}, "state_dict": {...}, "optimizer": {...}?, "ema": {...}?}

read back with ``torch.load(weights_only=True)`` (no pickled code). The
header says everything needed to rebuild the network (architecture,
encoder, number of masks, normalisation), so :func:`load_checkpoint` takes
only the path. It also holds ``weights_sha256``, a digest of the stored
weights: a file changed or damaged after saving is refused on loading
instead of giving other masks, and so are weights that are not finite.
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_bytes
from .trainconfig import ARCHITECTURES, DEFAULT_ENCODER, ENCODERS

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "disloc-checkpoint"
CHECKPOINT_SCHEMA = 1
DIGEST_KEY = "weights_sha256"
DEFAULT_N_MASKS = 20
# Frames are standardised per image (zero mean, unit std) before the net:
# real micrographs differ in brightness and contrast far more than anything
# the augmentations cover, and this takes that difference out entirely.
DEFAULT_NORMALIZATION = {"kind": "per_image", "eps": 1e-3}
SIZE_MULTIPLE = 32  # five 2x down-samplings in the encoder


def create_model(arch: str = "unetplusplus", encoder: str = DEFAULT_ENCODER, n_masks: int = DEFAULT_N_MASKS,
                 encoder_weights: Optional[str] = None) -> nn.Module:
    """Build an untrained network.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES` (``"unetplusplus"`` is the paper's).
    encoder : str
        One of :data:`ENCODERS`.
    n_masks : int
        Output masks N (the most dislocations one frame can hold).
    encoder_weights : str or None
        ``None`` (random init, no network access) or ``"imagenet"``
        (downloads pre-trained encoder weights; needs internet).

    Returns
    -------
    torch.nn.Module
        Maps (B, 1, H, W) float32 with H, W multiples of 32 px to (B, N, H, W) logits.
    """
    if arch not in ARCHITECTURES:
        raise DislocError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
    if encoder not in ENCODERS:
        raise DislocError(f"unknown encoder {encoder!r}; choose one of: {', '.join(ENCODERS)}")
    if not isinstance(n_masks, int) or isinstance(n_masks, bool) or not 1 <= n_masks <= 256:
        raise DislocError(f"n_masks must be an integer from 1 to 256, got {n_masks!r}")
    if encoder_weights not in (None, "imagenet"):
        raise DislocError(f"encoder_weights must be None or 'imagenet', got {encoder_weights!r}")
    from ._torchcompat import import_smp

    smp = import_smp()
    cls = {"unetplusplus": smp.UnetPlusPlus, "unet": smp.Unet}[arch]
    try:
        return cls(encoder_name=encoder, encoder_weights=encoder_weights, in_channels=1, classes=n_masks,
                   activation=None)
    except (OSError, RuntimeError, ValueError) as e:
        if encoder_weights:
            raise DislocError(f"could not get {encoder_weights} weights for {encoder} ({e}); "
                              "check the internet connection or leave out --imagenet") from None
        raise


def normalize(frames: np.ndarray | torch.Tensor, norm: Mapping[str, Any] = DEFAULT_NORMALIZATION):
    """Scale frames in [0, 1] the way the network was trained.

    Parameters
    ----------
    frames : array or tensor (..., H, W)
        Gray frames, float in [0, 1]; statistics are taken over the last two axes.
    norm : mapping
        ``{"kind": "per_image", "eps": e}`` (zero mean, unit std per frame) or
        ``{"kind": "fixed", "mean": m, "std": s}``.
    """
    kind = norm.get("kind")
    if kind == "local":
        return local_normalize(frames, float(norm.get("sigma_bg", 12.0)), float(norm.get("sigma_std", 24.0)),
                               float(norm.get("eps", 0.05)))
    if kind == "per_image":
        eps = float(norm.get("eps", 1e-3))
        if isinstance(frames, torch.Tensor):
            mean = frames.mean(dim=(-2, -1), keepdim=True)
            std = frames.std(dim=(-2, -1), keepdim=True, unbiased=False)
        else:
            mean = frames.mean(axis=(-2, -1), keepdims=True)
            std = frames.std(axis=(-2, -1), keepdims=True)
        return (frames - mean) / (std + eps)
    if kind == "fixed":
        return (frames - float(norm["mean"])) / float(norm["std"])
    raise DislocError(f"unknown normalisation {kind!r} in the checkpoint header; update Dislocation Studio")


def _gauss_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Smooth Gaussian-like blur of (N, 1, H, W) for broad sigmas, cheaply.

    The field is averaged over 4 x 4 blocks, blurred there with sigma / 4
    (a short separable kernel), and interpolated back: what is removed is
    broader than the lines by far, so the coarse grid loses nothing of it,
    and it is 10-50x faster than a full-resolution kernel of 6 sigma.
    """
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    f = 4 if min(h, w) >= 32 else 1
    small = F.avg_pool2d(x, f, ceil_mode=True) if f > 1 else x
    k = _gauss_kernel(sigma / f).to(x.device)
    r = (len(k) - 1) // 2
    sh, sw = small.shape[-2:]
    mode = "reflect" if r < min(sh, sw) else "replicate"
    small = F.conv2d(F.pad(small, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    small = F.conv2d(F.pad(small, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1))
    if f == 1:
        return small
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def local_normalize(frames, sigma_bg: float = 12.0, sigma_std: float = 24.0, eps: float = 0.05):
    """Flatten the background and equalise contrast locally: ``(x - G_bg * x) / local rms``.

    Subtracting a Gaussian blur of ``sigma_bg`` px removes what is broader
    than a few line widths (illumination gradients, vignetting, bend
    contours, thick specimen regions) and dividing by the local rms over
    ``sigma_std`` px makes a faint line in a dim region look like a strong
    one in a bright region. Lines 1-6 px wide pass unchanged. ``eps`` (a
    fraction of the frame's own rms) keeps flat regions from being blown up.
    Works on numpy arrays and torch tensors of shape (..., H, W).
    """
    is_np = not isinstance(frames, torch.Tensor)
    x = torch.from_numpy(np.ascontiguousarray(frames, np.float32)) if is_np else frames.float()
    shape = x.shape
    x = x.reshape(-1, 1, *shape[-2:])
    with torch.no_grad():
        hp = x - _blur(x, sigma_bg)
        var = _blur(hp * hp, sigma_std)
        floor = (eps * hp.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()).clamp_min(1e-4)
        out = hp / torch.sqrt(var + floor * floor)
    out = out.reshape(shape)
    return out.numpy() if is_np else out


def make_header(*, arch: str, encoder: str, n_masks: int, input_size: int,
                normalization: Mapping[str, Any] = DEFAULT_NORMALIZATION, training_data: list | None = None,
                history: list | None = None, best_metric: float | None = None, epoch: int = 0,
                config: Mapping[str, Any] | None = None, line_width: float | None = None,
                **extra: Any) -> dict:
    """The header of a checkpoint (plain JSON-able data).

    ``input_size`` is the training crop side in px; ``training_data`` lists
    ``{"path", "kind", "n_samples", "manifest"}`` per data folder; ``history``
    is the per-epoch rows of ``history.csv``.
    """
    h = {
        "format": CHECKPOINT_FORMAT,
        "schema_version": CHECKPOINT_SCHEMA,
        "architecture": arch,
        "encoder": encoder,
        "n_masks": int(n_masks),
        "in_channels": 1,
        "output": "sigmoid",
        "input_size": int(input_size),
        "size_multiple": SIZE_MULTIPLE,
        "normalization": dict(normalization),
        "training_data": list(training_data or []),
        "history": list(history or []),
        "best_metric": None if best_metric is None or not math.isfinite(best_metric) else float(best_metric),
        "epoch": int(epoch),
        "package_version": __version__,
        "config": dict(config or {}),
        "line_width": line_width,
    }
    h.update(extra)
    return h


def save_checkpoint(path: PathLike, model: nn.Module, header: Mapping[str, Any], *,
                    optimizer_state: Optional[dict] = None, half: bool = False,
                    ema_state: Optional[dict] = None) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path
        Target file (``.pt``).
    model : nn.Module
        The network; its ``state_dict`` is stored on the CPU.
    header : mapping
        From :func:`make_header`; must be JSON-able.
    optimizer_state : dict, optional
        ``optimizer.state_dict()`` for resuming, stored under ``"optimizer"``.
    half : bool
        Store floating weights as float16 (half the file size); they load back as float32.
    ema_state : dict, optional
        The state dict of a moving average of the weights (a run's last.pt,
        to resume it), stored under ``"ema"``; loading a model reads ``state_dict`` only.
    """
    import io
    import json

    header = dict(header)
    json.dumps(header)  # fail here, not at load time, if something is not JSON-able
    sd = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if half and v.is_floating_point():
            v = v.half()
        sd[k] = v.contiguous()
    header["weights_dtype"] = "float16" if half else "float32"
    header[DIGEST_KEY] = weights_digest(sd)
    obj = {"header": header, "state_dict": sd}
    if optimizer_state is not None:
        obj["optimizer"] = optimizer_state
    if ema_state is not None:
        obj["ema"] = {k: v.detach().to("cpu").contiguous() for k, v in ema_state.items()}
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict as stored: every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        v = state_dict[name]
        if not isinstance(v, torch.Tensor):
            h.update(f"{name}|{v!r}\n".encode())
            continue
        v = v.detach().to("cpu").contiguous()
        h.update(f"{name}|{v.dtype}|{tuple(v.shape)}\n".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()


def _load_error(path: Path, e: Exception) -> DislocError:
    """One line for a file torch cannot load; never PyTorch's advice to unpickle arbitrary code."""
    text = str(e)
    if "Weights only load failed" in text or "Unsupported global" in text or "WeightsUnpickler" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (it asks for {found.group(1)})" if found else ""
        return DislocError(f"{path}: refused: the file holds pickled Python objects other than weights{what}, which "
                           "could run code when loaded; use a checkpoint written by 'disloc train'")
    first = text.strip().splitlines()[0][:160] if text.strip() else type(e).__name__
    return DislocError(f"{path}: not a readable checkpoint (damaged or truncated file? {first})")


def read_checkpoint(path: PathLike, device: str | torch.device = "cpu") -> dict:
    """Load the raw checkpoint dict, checked; errors say what is wrong with the file.

    The weights must match the digest in the header (when it has one: files
    written before it was added have none) and be finite.
    """
    path = Path(path)
    if not path.is_file():
        raise DislocError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # zip, pickle and EOF errors of damaged files all land here
        raise _load_error(path, e) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("header"), dict) or "state_dict" not in obj:
        raise DislocError(f"{path}: not a Dislocation Studio checkpoint (no header); "
                          "train one with 'disloc train' or pick a .pt file written by it")
    h = obj["header"]
    if h.get("format") != CHECKPOINT_FORMAT:
        raise DislocError(f"{path}: header format is {h.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    try:
        schema = int(h.get("schema_version", 0))
    except (TypeError, ValueError):
        raise DislocError(f"{path}: header schema_version is {h.get('schema_version')!r}, not a number") from None
    if schema > CHECKPOINT_SCHEMA:
        raise DislocError(f"{path}: written by a newer Dislocation Studio (schema {h['schema_version']}); update it")
    sd = obj["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DislocError(f"{path}: state_dict is not a set of named weight tensors; the file is damaged")
    _check_weights(path, h, sd)
    return obj


def _check_weights(path: Path, header: dict, sd: dict) -> None:
    digest = header.get(DIGEST_KEY)
    if digest is not None and digest != weights_digest(sd):
        raise DislocError(f"{path}: the weights do not match the digest in the checkpoint's header: the file was "
                          "changed or damaged after it was saved; use another copy of it, or train again")
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise DislocError(f"{path}: the weights hold NaN or infinite values (in {bad[0]}{more}): the training "
                          "diverged or the file is damaged; use another checkpoint (e.g. best.pt of the run)")


def load_checkpoint(path: PathLike, device: str | torch.device | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the network of a checkpoint, in eval mode, float32, on ``device``.

    Parameters
    ----------
    path : path
        A ``.pt`` file written by :func:`save_checkpoint`.
    device : str or torch.device, optional
        Defaults to the CPU.

    Returns
    -------
    (model, header)
        The network and the checkpoint's header dict.

    Raises
    ------
    DislocError
        When the file is missing, damaged or truncated, not ours, or its
        weights do not fit the architecture its header names.
    """
    device = torch.device(device or "cpu")
    obj = read_checkpoint(path, "cpu")
    h = obj["header"]
    try:
        model = create_model(h["architecture"], h["encoder"], int(h["n_masks"]))
    except KeyError as e:
        raise DislocError(f"{path}: header lacks {e.args[0]!r}") from None
    except DislocError as e:
        raise DislocError(f"{path}: {e}") from None
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in obj["state_dict"].items()}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        detail = str(e).splitlines()[0][:200]
        raise DislocError(f"{path}: weights do not fit a {h['architecture']}/{h['encoder']} network with "
                          f"{h['n_masks']} masks (another architecture or a damaged file: {detail})") from None
    model.to(device).eval()
    return model, h
