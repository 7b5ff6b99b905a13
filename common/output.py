"""Rows out of the CLI: a readable table, JSON (one object per line) or CSV.

A row is a mapping of column key -> raw value; JSON and CSV print the raw values under the
keys, the table prints each column's `show` of the value under its title. Tables are
sized to their contents, or (stream=True, e.g. a live tail) printed row by row at the
columns' fixed widths. Text that came from clients (a detector's name) may hold control
characters: table cells show them escaped (`\x1b`), so no terminal obeys them; JSON escapes
them itself; CSV carries the value as stored, escaped only when it goes to a terminal.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

FORMATS = ("table", "json", "csv")

Row = Mapping[str, Any]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """`text` with every C0/C1 control character shown as \\xNN: safe on a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    return str(value)


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the JSON/CSV name of the value
    title: str  # the table heading
    show: Callable[[Any], str] = _text  # the table's rendering of the value
    width: int = 0  # fixed width of a streamed table (0: the title's)
    right: bool = False  # right-align (numbers)
    table: bool = True  # shown in tables
    machine: bool = True  # carried by JSON and CSV (False: display text for tables only)


class Writer:
    """Write rows in one of FORMATS; close() prints a buffered table. Safe to close twice."""

    def __init__(
        self, columns: Sequence[Column], fmt: str, out: TextIO, stream: bool = False
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        self.columns = list(columns)
        self.fmt = fmt
        self.out = out
        self.stream = stream
        self.count = 0
        self._rows: list[list[str]] = []
        self._csv: Any = None
        self._closed = False
        self._table_cols = [c for c in self.columns if c.table]
        self._machine_cols = [c for c in self.columns if c.machine]
        self._tty = bool(getattr(out, "isatty", lambda: False)())
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow([c.key for c in self._machine_cols])
        elif fmt == "table" and stream:
            self._line([c.title for c in self._table_cols], self._fixed_widths())

    def write(self, row: Row) -> None:
        self.count += 1
        if self.fmt == "json":
            data = {c.key: row.get(c.key) for c in self._machine_cols}
            self.out.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
        elif self.fmt == "csv":
            values = ["" if row.get(c.key) is None else _csv_value(row.get(c.key))
                      for c in self._machine_cols]
            if self._tty:
                values = [escape(v) if isinstance(v, str) else v for v in values]
            self._csv.writerow(values)
        else:
            cells = [escape(c.show(row.get(c.key))) for c in self._table_cols]
            if not self.stream:
                self._rows.append(cells)
                return
            self._line(cells, self._fixed_widths())
        if self.stream:
            self.out.flush()

    def write_all(self, rows: Iterable[Row]) -> int:
        for row in rows:
            self.write(row)
        return self.count

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.fmt == "table" and not self.stream:
            titles = [c.title for c in self._table_cols]
            widths = [max(len(x) for x in col) for col in zip(titles, *self._rows, strict=True)]
            self._line(titles, widths)
            for cells in self._rows:
                self._line(cells, widths)
        self.out.flush()

    def _fixed_widths(self) -> list[int]:
        return [max(c.width, len(c.title)) for c in self._table_cols]

    def _line(self, cells: Sequence[str], widths: Sequence[int]) -> None:
        parts = [
            cell.rjust(width) if col.right else cell.ljust(width)
            for cell, width, col in zip(cells, widths, self._table_cols, strict=True)
        ]
        self.out.write("  ".join(parts).rstrip() + "\n")


def write_rows(
    columns: Sequence[Column], fmt: str, rows: Iterable[Row], stream: bool = False
) -> int:
    """Write every row to stdout in `fmt`, then close (prints a table): how many rows."""
    writer = Writer(columns, fmt, sys.stdout, stream=stream)
    count = writer.write_all(rows)
    writer.close()
    return count


def add_format_option(parser: argparse.ArgumentParser, table: str = "table") -> None:
    """--format table|json|csv; `table` describes the table (e.g. "table (local times)")."""
    parser.add_argument(
        "--format", choices=FORMATS, default="table",
        help=f"{table}, json (one object per line) or csv (default: table)",
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, list | tuple):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return value


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions to the terminal like argparse does, but keeps a text with example
    command lines (indented `roadside ...`) as written: their line breaks are the point."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n  roadside " in text or text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)
