"""Frozen settings saved as JSON: what TrainConfig and SegmentConfig share.

A config is a frozen dataclass that validates itself on construction and
raises :class:`~core.errors.DislocError` with a message that starts with its
:attr:`JsonConfig.LABEL` (``"train config: epochs must be ..."``). This mixin
adds the JSON round trip: unknown keys are errors that name the key (also
inside a nested config, ``postprocess.treshold``), a message names the file
it came from, and saving is atomic.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from ..errors import DislocError
from .fileio import PathLike, atomic_write_json, read_json

C = TypeVar("C", bound="JsonConfig")


def is_int(x: Any) -> bool:
    """An integer, and not a bool (JSON ``true`` is no count)."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_num(x: Any) -> bool:
    """A number, and not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class JsonConfig:
    """Mixin for a frozen dataclass of settings kept as a JSON object."""

    #: How validation errors of the config start (``"train config"``); replaced by the source when loading.
    LABEL = "config"

    def _need(self, ok: bool, name: str, what: str) -> None:
        """For validation: unless ``ok``, raise ``"<LABEL>: <name> <what>, got <value>"``."""
        if not ok:
            raise DislocError(f"{self.LABEL}: {name} {what}, got {getattr(self, name)!r}")

    def replace(self: C, **changes: Any) -> C:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able settings: nested configs as objects, tuples as lists."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls: type[C], d: Any, source: str = "") -> C:
        """Settings from a JSON object; ``source`` (a file, "settings") starts the messages."""
        source = source or cls.LABEL
        if not isinstance(d, dict):
            raise DislocError(f"{source}: must be a JSON object")
        _check_keys(cls, d, source, "")
        try:
            return cls(**d)
        except DislocError as e:
            raise DislocError(str(e).replace(f"{cls.LABEL}:", f"{source}:", 1)) from None
        except TypeError as e:  # a value of the wrong kind where a check compares numbers
            raise DislocError(f"{source}: {e}") from None

    @classmethod
    def from_json(cls: type[C], text: str, source: str = "") -> C:
        source = source or cls.LABEL
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DislocError(f"{source}: not valid JSON ({e.msg}, line {e.lineno})") from None
        return cls.from_dict(d, source)

    def save(self, path: PathLike) -> None:
        """Write the settings as JSON, atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[C], path: PathLike) -> C:
        return cls.from_dict(read_json(path), str(path))


def _check_keys(cls: type, d: dict, source: str, prefix: str) -> None:
    """Name the first key of ``d`` that ``cls`` lacks, looking into nested configs given as objects."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in d.items():
        if k not in fields:
            raise DislocError(f"{source}: unknown key '{prefix}{k}' (known: {', '.join(sorted(fields))})")
        f = fields[k]
        nested = f.default_factory if f.default is dataclasses.MISSING else None
        if isinstance(v, dict) and dataclasses.is_dataclass(nested):
            _check_keys(nested, v, source, f"{prefix}{k}.")
