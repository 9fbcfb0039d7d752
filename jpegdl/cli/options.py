"""Command-line flags generated from dataclass fields, so an option is declared once.

A field made with :func:`jpegdl.utils.option` carries its help text and, optionally, its
``flag``, ``choices`` and ``metavar``. ``add_dataclass_flags`` turns the fields of a dataclass into
argparse flags whose default is ``None`` ("not given"); ``given_values`` collects the given ones
back into a (nested) dict, which ``TrainConfig.from_dict`` validates.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, fields
from typing import Any

SEPARATOR = "."


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, is_list)`` of an annotation: ``X | None`` -> X, ``list[X]`` -> (X, True)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0])
    if origin is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def _default_text(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


def add_dataclass_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    prefix: str = "",
    dest_prefix: str = "",
    skip: tuple[str, ...] = (),
) -> None:
    """Add one flag per field of dataclass ``cls`` (fields in ``skip`` and nested configs excluded).

    The flag is ``--{prefix}{field-name}`` unless the field's metadata names a ``flag``; its
    ``dest`` is ``{dest_prefix}{field}``. Help texts end with the default.
    """
    hints = typing.get_type_hints(cls)
    for item in fields(cls):
        if item.name in skip or "help" not in item.metadata:
            continue
        kind, is_list = _base_type(hints[item.name])
        if hasattr(kind, "__dataclass_fields__"):
            continue
        default = item.default if item.default is not MISSING else item.default_factory()  # type: ignore[misc]
        flag = item.metadata.get("flag", f"--{prefix}{item.name.replace('_', '-')}")
        options: dict[str, Any] = {"dest": f"{dest_prefix}{item.name}", "default": None,
                                   "help": f"{item.metadata['help']} (default: {_default_text(default)})"}  # fmt: skip
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = kind
            if "choices" in item.metadata:
                options["choices"] = item.metadata["choices"]
            if "choices" not in item.metadata:
                options["metavar"] = item.metadata.get("metavar", item.name.upper())
            if is_list:
                options["nargs"] = "+"
        parser.add_argument(flag, **options)


def given_values(args: argparse.Namespace, cls: type, dest_prefix: str = "") -> dict:
    """The fields of ``cls`` that were given on the command line (not ``None``)."""
    values = {}
    hints = typing.get_type_hints(cls)
    for item in fields(cls):
        if hasattr(_base_type(hints[item.name])[0], "__dataclass_fields__"):
            continue  # nested configs have flags of their own
        value = getattr(args, f"{dest_prefix}{item.name}", None)
        if value is not None:
            values[item.name] = value
    return values
