"""Command-line flags made from a config dataclass: one flag per setting, its default taken from the config.

``disloc train`` (TrainConfig) and ``disloc segment`` (SegmentConfig) list
their flags as ``(flag, field, type, metavar, help)``; ``field`` may reach
into a nested config (``"postprocess.threshold"``) and ``help`` may say
``{default}``. Flags default to None, so only the flags given change the
settings; the config itself validates them.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Optional, Sequence

Option = tuple[str, str, type, Optional[str], str]


def field_default(cls: type, field: str) -> Any:
    """The default of ``field`` (dotted for nested configs) of the dataclass ``cls``."""
    first, _, rest = field.partition(".")
    f = next(f for f in dataclasses.fields(cls) if f.name == first)
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return getattr(value, rest) if rest else value


def format_default(value: Any) -> str:
    """20.0 -> ``20``, 0.001 -> ``0.001``, None -> ``none``."""
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, options: Sequence[Option], **extra: dict) -> None:
    """Add one flag per option; ``extra`` maps a field to more ``add_argument`` keywords (choices, ...)."""
    for flag, field, typ, metavar, text in options:
        parser.add_argument(flag, dest=_dest(field), type=typ, default=None, metavar=metavar,
                            help=text.format(default=format_default(field_default(cls, field))),
                            **extra.get(field, {}))


def apply_flags(args: argparse.Namespace, options: Sequence[Option], settings: dict) -> dict:
    """Put the values of the flags given into ``settings`` (a config's ``to_dict()``); returns it."""
    for _flag, field, *_ in options:
        value = getattr(args, _dest(field))
        if value is not None:
            *parents, name = field.split(".")
            target = settings
            for part in parents:
                target = target.setdefault(part, {})
            target[name] = value
    return settings


def _dest(field: str) -> str:
    return field.replace(".", "__")
