"""Every `roadside GROUP SUBCOMMAND --help` shows an example and no Python-ish defaults."""

from __future__ import annotations

import argparse
import re

import pytest

from roadside.common.main import GROUPS, build_parser

pytestmark = pytest.mark.wheel  # also run against the installed wheel


def _subcommands() -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for group in GROUPS:
        top = build_parser(group)
        (groups,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
        group_parser = groups.choices[group]
        (subs,) = [a for a in group_parser._actions
                   if isinstance(a, argparse._SubParsersAction)]
        found += [(group, name, p) for name, p in subs.choices.items()]
    return found


COMMANDS = _subcommands()


@pytest.mark.parametrize(("group", "name", "parser"), COMMANDS,
                         ids=[f"{g}-{n}" for g, n, _ in COMMANDS])
def test_help_has_an_example_and_readable_defaults(group: str, name: str,
                                                   parser: argparse.ArgumentParser,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a plain terminal
    text = parser.format_help()
    example = re.search(r"^examples?( \([^)]*\))?:\n?(.*)", text, re.MULTILINE | re.DOTALL)
    assert example and f"roadside {group} {name}" in example.group(2)
    too_long = [line for line in text.splitlines() if len(line) > 100]
    assert not too_long, "unwrapped help text"
    for action in parser._actions:
        words = (action.help or "").split()
        assert "None" not in words, action.option_strings  # say none, or the real default
        assert words[-1:] != ["default"], action.option_strings  # an empty default


def test_every_group_was_found() -> None:
    assert {g for g, _, _ in COMMANDS} == set(GROUPS) and len(COMMANDS) >= 19
