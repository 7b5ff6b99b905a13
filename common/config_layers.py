"""Layered configuration: defaults, then a YAML file, then ROADSIDE_* variables, then flags.

A configuration is a frozen dataclass whose fields have defaults. `load()` builds one
from the layers, converting strings to each field's type and naming the field (and the
layer it came from) in any error.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from roadside.common.errors import RoadsideError

T = TypeVar("T")

ENV_PREFIX = "ROADSIDE_"


class ConfigError(RoadsideError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def load(
    cls: type[T],
    file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    env_prefix: str = ENV_PREFIX,
    section: str | None = None,
    local: Mapping[str, Any] | None = None,
) -> T:
    """Build `cls` from its defaults, the YAML `file`, the environment and `flags`.

    Environment variables are `env_prefix` + the field name in upper case
    (ROADSIDE_ETCD_ENDPOINTS). List fields take comma-separated values there.
    `flags` holds command-line values; None means "not given". With `section`,
    the YAML file's top-level mapping of that name is read (e.g. "central"). `local` lies
    just above the defaults: what a laptop central on this machine says of itself
    (roadside.common.laptop), so that every other layer wins over it.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {k: v for k, v in (local or {}).items() if k in fields}

    if file is not None:
        for name, raw in read_yaml(Path(file), section).items():
            key = name.replace("-", "_")
            if key not in fields:
                raise ConfigError(f"{file}: unknown setting {name!r}")
            values[key] = _convert(raw, hints[key], f"{file}: {name}")

    environ = os.environ if env is None else env
    for key in fields:
        var = env_prefix + key.upper()
        if var in environ:
            values[key] = _convert(environ[var], hints[key], var)

    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        if key not in fields:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _convert(raw, hints[key], "--" + key.replace("_", "-"))

    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


_FIELD_LINE = re.compile(r"^\s+(\w+): [^=]+=\s*(.+?)(?:\s+#\s*(.*))?$")
_COMMENT_LINE = re.compile(r"^\s+#\s?(.*)$")


def field_comments(cls: type, above: bool = False) -> dict[str, str]:
    """Field name -> the comment beside it in the class's source (and, with `above`, the
    comment lines just above it first): the settings' documentation lives there once."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        comment = _COMMENT_LINE.match(line)
        if comment:
            pending.append(comment.group(1).strip())
            continue
        m = _FIELD_LINE.match(line)
        if m:
            parts = [*pending] if above else []
            if m.group(3):
                parts.append(m.group(3).strip())
            if parts:
                out[m.group(1)] = " ".join(parts)
        pending = []
    return out


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: 'line L, column C: problem'."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (
        f" ({context})" if context else "")


SECTIONS = frozenset({"agent", "central", "worker", "client"})  # of one settings file


def read_yaml(path: Path, section: str | None) -> dict[str, Any]:
    """The settings of a YAML file (of `section` when it has sections); ConfigError in one
    line naming the file when it cannot be read or is not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML settings file (not UTF-8 text at byte "
                          f"{exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from exc
    if data is None:
        return {}
    if section is not None and isinstance(data, dict) and (
            section in data or (data and set(data) <= SECTIONS)):
        data = data.get(section) or {}  # one file, several sections: this one's (or none)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return data


def _convert(raw: Any, hint: Any, where: str) -> Any:
    """Convert a YAML value or a string to the type `hint`, or raise ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _convert(raw, inner[0], where)
    if origin in (tuple, list):
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {raw!r}")
        item_type = args[0] if args else str
        out = [_convert(i.strip() if isinstance(i, str) else i, item_type, where) for i in items]
        out = [i for i in out if i != ""]
        return tuple(out) if origin is tuple else out
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if hint in (int, float):
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a number, got {raw!r}")
        try:
            return hint(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
    if hint is str:
        if isinstance(raw, (dict, list)):
            raise ConfigError(f"{where}: expected text, got {raw!r}")
        return str(raw)
    if hint is Path:
        return Path(str(raw))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(str(raw).lower())
        except ValueError:
            choices = ", ".join(str(m.value) for m in hint)
            raise ConfigError(f"{where}: expected one of {choices}, got {raw!r}") from None
    return raw
