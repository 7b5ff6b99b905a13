"""A settings dataclass on the command line: --config FILE plus one flag per field.

`add_setting_flags(parser, cls, helps)` adds `--field-name` for every field (tuple fields
take several values, repeated or comma-separated; bool fields are --name/--no-name);
`setting_flags(args, cls)` gives the mapping roadside.common.config_layers.load takes as its flags
layer (None = not given).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping
from typing import Any


def _is_list(cls: type, name: str) -> bool:
    hint = typing.get_type_hints(cls)[name]
    return typing.get_origin(hint) in (tuple, list)


def _is_bool(cls: type, name: str) -> bool:
    hint = typing.get_type_hints(cls)[name]
    return hint is bool or bool in typing.get_args(hint)


def add_setting_flags(
    parser: argparse.ArgumentParser, cls: type, helps: Mapping[str, str]
) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML settings file")
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name, "").replace("%", "%%")
        if _is_list(cls, f.name):
            parser.add_argument(flag, nargs="+", action="extend", metavar="VALUE", help=text)
        elif _is_bool(cls, f.name):  # --name / --no-name
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        else:
            parser.add_argument(flag, metavar=f.name.upper(), help=text)


def setting_flags(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None and _is_list(cls, f.name):
            value = [part for item in value for part in item.split(",") if part.strip()]
        flags[f.name] = value
    return flags
