"""Command-line times and the table/JSON/CSV writers."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest

from roadside.common.output import Column, Writer
from roadside.common.timeparse import TimeError, format_utc, parse_time

S = 1_000_000_000
NOW = 1_795_000_000 * S + 123


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("90s", NOW - 90 * S),
        ("15m", NOW - 900 * S),
        ("2h", NOW - 7200 * S),
        ("1d", NOW - 86_400 * S),
        ("1.5h", NOW - 5400 * S),
        ("2026-11-27T18:00:00Z", 1_795_802_400 * S),
        ("2026-11-27T19:00:00.250+01:00", 1_795_802_400 * S + 250_000_000),
    ],
)
def test_times(text: str, expected: int) -> None:
    assert parse_time(text, "--since", now_ns=NOW) == expected


def test_a_time_without_offset_is_local() -> None:
    local = datetime(2026, 11, 27, 18, 0, 0).astimezone()
    assert parse_time("2026-11-27T18:00:00", now_ns=NOW) == int(local.timestamp()) * S


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "2026-13-01T00:00:00Z", "", "5y"])
def test_bad_times_name_the_option(text: str) -> None:
    with pytest.raises(TimeError, match=r"bad time for --until: .*expected RFC 3339"):
        parse_time(text, "--until", now_ns=NOW)


def test_format_utc_keeps_nanoseconds() -> None:
    assert format_utc(1_795_802_400 * S + 5) == "2026-11-27T18:00:00.000000005Z"


COLUMNS = (
    Column("name", "NAME"),
    Column("n", "COUNT", right=True, width=5),
    Column("tags", "TAGS"),
    Column("hidden", "HIDDEN", table=False),
)
ROWS = [
    {"name": "north-gate", "n": 7, "tags": ["ble", "wifi"], "hidden": 1},
    {"name": "s", "n": 12345, "tags": [], "hidden": None},
]


def written(fmt: str, stream: bool = False) -> str:
    out = io.StringIO()
    writer = Writer(COLUMNS, fmt, out, stream=stream)
    writer.write_all(ROWS)
    writer.close()
    writer.close()  # safe twice: nothing printed again
    return out.getvalue()


def test_table_is_sized_to_its_contents() -> None:
    assert written("table").splitlines() == [
        "NAME        COUNT  TAGS",
        "north-gate      7  ble,wifi",
        "s           12345  -",
    ]


def test_streamed_table_uses_fixed_widths() -> None:
    assert written("table", stream=True).splitlines()[:2] == [
        "NAME  COUNT  TAGS",
        "north-gate      7  ble,wifi",
    ]


def test_json_is_one_object_per_line_with_every_column() -> None:
    rows = [json.loads(line) for line in written("json").splitlines()]
    assert rows == [
        {"name": "north-gate", "n": 7, "tags": ["ble", "wifi"], "hidden": 1},
        {"name": "s", "n": 12345, "tags": [], "hidden": None},
    ]


def test_csv_has_a_header_and_every_column() -> None:
    rows = list(csv.DictReader(io.StringIO(written("csv"))))
    assert rows == [
        {"name": "north-gate", "n": "7", "tags": "ble;wifi", "hidden": "1"},
        {"name": "s", "n": "12345", "tags": "", "hidden": ""},
    ]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        Writer(COLUMNS, "xml", io.StringIO())
