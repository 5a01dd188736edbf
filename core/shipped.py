"""What the package ships in ``resources/``: the models and their card.

Two models are shipped (``resources/models/README.md`` is their card):

- ``default.pt``, trained on the paper's synthetic preset ``m2``: what
  ``disloc segment``, ``disloc demo`` and the app use when given no other.
- ``realistic.pt``, trained on the ``realistic`` preset: it responds to real
  micrographs where ``default.pt`` finds almost nothing, at the cost of the
  synthetic figures, so fine-tuning on a user's annotated frames starts from
  it when the project has no model of its own.

A ``--model`` argument may name either (``default``, ``realistic``) instead of
giving a path (:func:`resolve_model`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .errors import DislocError

DEFAULT_MODEL_NAME = "default.pt"
REAL_MODEL_NAME = "realistic.pt"
SHIPPED_MODELS = {"default": DEFAULT_MODEL_NAME, "realistic": REAL_MODEL_NAME}
#: What each shipped model is called in messages.
SHIPPED_LABELS = {"default": "shipped default model", "realistic": "shipped model for real frames"}


def resources_dir() -> Path:
    """The ``resources`` folder (importable package next to ``core``)."""
    import importlib.resources

    return Path(str(importlib.resources.files("resources")))


def shipped_model_path(key: str) -> Path:
    """Path of the shipped model ``key`` (``"default"`` or ``"realistic"``; the file may be missing)."""
    return resources_dir() / "models" / SHIPPED_MODELS[key]


def default_model_path() -> Path:
    """Path of the shipped default checkpoint (it may be missing in a partial install)."""
    return shipped_model_path("default")


def realistic_model_path() -> Path:
    """Path of the shipped checkpoint trained on the realistic preset (it may be missing in a partial install)."""
    return shipped_model_path("realistic")


def shipped_key(path: Union[str, Path]) -> Optional[str]:
    """Which shipped model ``path`` is (``"default"``, ``"realistic"``), or None for any other file."""
    p = Path(path).resolve()
    return next((k for k in SHIPPED_MODELS if shipped_model_path(k).resolve() == p), None)


def finetune_start_path() -> Path:
    """The shipped model that fine-tuning on real frames starts from: the realistic one, else the default one."""
    real = realistic_model_path()
    return real if real.is_file() else default_model_path()


def resolve_model(arg: Union[str, Path, None], default: Optional[Path] = None) -> Path:
    """A ``--model`` argument as a checkpoint path: a file, or the name of a shipped model.

    Parameters
    ----------
    arg : str, path or None
        A checkpoint path, or ``"default"`` / ``"realistic"`` (a file of that
        name in the working folder wins). None gives ``default``.
    default : path, optional
        What None means (default: :func:`default_model_path`).

    Raises
    ------
    DislocError
        The path or the shipped model is missing (saying what to pass instead).
    """
    if arg is None:
        path = default or default_model_path()
    elif str(arg) in SHIPPED_MODELS and not Path(arg).exists():
        path = shipped_model_path(str(arg))
    else:
        return Path(arg)  # a path: its loader says what is wrong with it, naming it
    if not path.is_file():
        raise DislocError(f"the shipped model {path.name} is not installed ({path}); pass --model CKPT "
                          "(a .pt from 'disloc train' or 'disloc finetune')")
    return path
