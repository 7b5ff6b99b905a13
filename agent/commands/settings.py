"""AgentConfig on the command line: --config FILE plus one flag per setting.

Every AgentConfig field is a flag (`detector_id` -> `--detector-id`), taken as text and
converted by roadside.common.config_layers like the YAML and ROADSIDE_* layers. Each flag's help
is the comment beside its field in agent/config.py, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from functools import cache
from pathlib import Path

from roadside.agent.config import DEFAULT_CONFIG_PATH, AgentConfig
from roadside.agent.laptop import local_settings
from roadside.common.config_layers import field_comments, load


@cache
def _comments() -> dict[str, str]:
    """Field name -> the comment on its line in AgentConfig's source."""
    return field_comments(AgentConfig)


def add_config_flags(parser: argparse.ArgumentParser, settings: bool = True) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE",
        help=f"YAML settings (default: {DEFAULT_CONFIG_PATH} when it exists); "
             "ROADSIDE_<SETTING> variables and the flags below override it",
    )
    if not settings:
        return
    group = parser.add_argument_group("settings (override the file and the environment)")
    for f in dataclasses.fields(AgentConfig):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(str(x) for x in default)
        elif hasattr(default, "value"):
            default = default.value
        elif default is None or default == "":
            default = "none"
        note = _comments().get(f.name, "")
        text = f"{note}; default {default}" if note else f"default {default}"
        group.add_argument(
            "--" + f.name.replace("_", "-"), dest="cfg_" + f.name, metavar="VALUE",
            help=text.replace("%", "%%"),
        )


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """Defaults < the YAML file < ROADSIDE_* < flags. Raises ConfigError naming the field."""
    path = args.config
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    flags = {
        f.name: getattr(args, "cfg_" + f.name, None) for f in dataclasses.fields(AgentConfig)
    }
    return load(AgentConfig, path, os.environ, flags, section="agent", local=local_settings())
