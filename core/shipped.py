"""What the package ships in ``resources/``: the default model and its card."""
from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_NAME = "default.pt"


def resources_dir() -> Path:
    """The ``resources`` folder (importable package next to ``core``)."""
    import importlib.resources

    return Path(str(importlib.resources.files("resources")))


def default_model_path() -> Path:
    """Path of the shipped default checkpoint (it may be missing in a partial install)."""
    return resources_dir() / "models" / DEFAULT_MODEL_NAME
