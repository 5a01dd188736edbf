"""The training runs of a project and the model it segments with (Qt-free).

A project keeps every run in its own folder under ``runs/`` (written by
:func:`core.learn.train.train`; its files: :mod:`core.learn.runfolder`)::

    runs/20250301-142210_resnet18/               config.json, history.csv, best.pt, last.pt
    runs/selected.json                           the project's model

``selected.json`` names the checkpoint the project segments with::

    {"schema_version": 1, "format": "disloc-selected-model", "checkpoint": "runs/<run>/best.pt"}

The path is relative to the project when the checkpoint lies inside it
(the project folder can be moved), absolute otherwise. Without it, the
shipped default model (:func:`core.shipped.default_model_path`) is used.
Nothing here imports torch: listing runs must stay cheap for the GUI.
"""
from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_json, read_json
from ..learn.runfolder import RunInfo, is_run, read_run
from ..shipped import (
    SHIPPED_LABELS, SHIPPED_MODELS, default_model_path, finetune_start_path, shipped_key, shipped_model_path,
)

log = logging.getLogger(__name__)

SELECTED_FILE = "selected.json"
SELECTED_FORMAT = "disloc-selected-model"
SELECTED_SCHEMA = 1
_SELECTED_KEYS = ("schema_version", "format", "checkpoint")
_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def list_runs(project_root: PathLike) -> list[RunInfo]:
    """Every run folder of a project (those with a config, history or checkpoint), oldest first."""
    runs = Path(project_root) / "runs"
    if not runs.is_dir():
        return []
    out = []
    for d in sorted(runs.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and is_run(d):
            out.append(read_run(d))
    return out


def new_run_dir(project_root: PathLike, label: str = "", now: Optional[_dt.datetime] = None) -> Path:
    """A fresh, unused run folder path ``runs/YYYYmmdd-HHMMSS_<label>`` (not created)."""
    now = now or _dt.datetime.now()
    stem = now.strftime("%Y%m%d-%H%M%S") + (("_" + _SAFE.sub("_", label).strip("_.")) if label else "")
    runs = Path(project_root) / "runs"
    path, k = runs / stem, 1
    while path.exists():
        k += 1
        path = runs / f"{stem}-{k}"
    return path


# ---------------------------------------------------------------- the project's model
def _selected_path(project_root: PathLike) -> Path:
    return Path(project_root) / "runs" / SELECTED_FILE


def selected_model(project_root: PathLike) -> Optional[Path]:
    """The checkpoint chosen as the project's model (absolute path), or None.

    Raises
    ------
    DislocError
        selected.json is damaged (names the file and what to do).
    """
    f = _selected_path(project_root)
    if not f.exists():
        return None
    d = read_json(f)
    if not isinstance(d, dict) or d.get("format") != SELECTED_FORMAT:
        raise DislocError(f"{f}: not a model choice file; delete it and choose the model again in the Train panel")
    unknown = sorted(set(d) - set(_SELECTED_KEYS))
    if unknown:
        raise DislocError(f"{f}: unknown key '{unknown[0]}'; delete the file and choose the model again")
    if int(d.get("schema_version", 0)) > SELECTED_SCHEMA:
        raise DislocError(f"{f}: written by a newer Dislocation Studio; update it")
    ck = d.get("checkpoint")
    if not isinstance(ck, str) or not ck:
        raise DislocError(f"{f}: checkpoint must be a path; choose the model again in the Train panel")
    if ck in SHIPPED_MODELS:  # a shipped model by name: found wherever the package is installed
        return shipped_model_path(ck)
    p = Path(ck)
    return p if p.is_absolute() else Path(project_root) / p


def select_model(project_root: PathLike, checkpoint: PathLike) -> Path:
    """Make ``checkpoint`` the project's model (written atomically); returns selected.json.

    A run of the project is stored relative to it, a shipped model by its
    name (so the choice survives reinstalling the package), any other file
    by its absolute path.
    """
    root = Path(project_root).resolve()
    ck = Path(checkpoint).expanduser().resolve()
    if not ck.is_file():
        raise DislocError(f"{ck}: checkpoint not found; choose a .pt file written by training")
    try:
        stored = ck.relative_to(root).as_posix()
    except ValueError:
        stored = shipped_key(ck) or str(ck)
    f = _selected_path(root)
    atomic_write_json(f, {"schema_version": SELECTED_SCHEMA, "format": SELECTED_FORMAT, "checkpoint": stored})
    return f


def clear_selected_model(project_root: PathLike) -> None:
    """Forget the project's model choice (the shipped default is used again)."""
    f = _selected_path(project_root)
    if f.exists():
        f.unlink()


def project_model(project_root: Optional[PathLike]) -> tuple[Optional[Path], str]:
    """The checkpoint to segment with, and where it comes from (for the user).

    Returns ``(path, "project model")``, ``(path, "shipped default model")``
    or ``(None, reason)`` where reason says what to do.
    """
    return _project_or_shipped(project_root, default_model_path(), SHIPPED_LABELS["default"])


def finetune_start_model(project_root: Optional[PathLike]) -> tuple[Optional[Path], str]:
    """The checkpoint fine-tuning on the project's annotated frames starts from, and where it comes from.

    The project's model when it has one (fine-tuning goes on from there), else
    the shipped model for real frames (``realistic.pt``), else the shipped
    default; ``(None, reason)`` as :func:`project_model`.
    """
    shipped = finetune_start_path()
    return _project_or_shipped(project_root, shipped, SHIPPED_LABELS[shipped_key(shipped)])


def _project_or_shipped(project_root: Optional[PathLike], shipped: Path, name: str) -> tuple[Optional[Path], str]:
    """The project's chosen model, else ``shipped`` (called ``name``), else None: each with what to tell the user."""
    note = ""
    if project_root is not None:
        try:
            sel = selected_model(project_root)
        except DislocError as e:
            sel, note = None, f"{e}. "
        if sel is not None:
            if sel.is_file():
                key = shipped_key(sel)
                return sel, "project model" if key is None else f"{SHIPPED_LABELS[key]}, chosen for this project"
            note = f"the project's model {sel} is missing. "
    if shipped.is_file():
        return shipped, note + name
    return None, (note + f"no model yet: the {name} ({shipped}) is not installed. Train one in the "
                  "Train panel and choose it as the project's model, or choose a checkpoint (.pt).")


# ---------------------------------------------------------------- training data of a project
@dataclass(frozen=True)
class DataFolder:
    """A folder the Train panel offers: a synthetic dataset or the annotated frames."""

    path: Path
    kind: str  # "dataset" or "annotations"
    count: int

    @property
    def label(self) -> str:
        return "annotated frames" if self.kind == "annotations" else self.path.name


def project_data(project_root: PathLike) -> list[DataFolder]:
    """Dataset folders under ``datasets/`` (with a dataset.json) and ``annotations/`` when it has labelme files."""
    from ..io.dataset import MANIFEST, list_samples
    from ..io.labelme import list_annotations

    root = Path(project_root)
    out = []
    ds = root / "datasets"
    if ds.is_dir():
        for d in sorted(ds.iterdir()):
            if d.is_dir() and (d / MANIFEST).exists():
                out.append(DataFolder(d, "dataset", len(list_samples(d))))
    ann = root / "annotations"
    if ann.is_dir():
        n = len(list_annotations(ann))
        if n:
            out.append(DataFolder(ann, "annotations", n))
    return out
