"""The reference pages, generated at `mkdocs build` from what the code itself says, so that
they cannot drift from it: settings (the config dataclasses and the comments beside their
fields), the gRPC API (proto/ with its comments, through protoc's descriptors), the HTTP API
(the service's OpenAPI document) and the command line (every command's --help)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import mkdocs_gen_files
from google.protobuf import descriptor_pb2

from roadside.agent.config import AgentConfig
from roadside.central.cli.client import ClientConfig
from roadside.central.config import CentralConfig
from roadside.central.http.app import make_app
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.common.config_layers import ENV_PREFIX, field_comments
from roadside.common.main import GROUPS, build_parser

REPO = Path(__file__).resolve().parents[1]
SETTINGS = (
    ("agent", AgentConfig, "the agent on a box: `/etc/roadside/agent.yaml`, section `agent:` "
                           "or top level; `roadside agent ...` flags"),
    ("central", CentralConfig, "`roadside central serve` and `central http`: section "
                               "`central:` or top level; the etcd-side commands read it too"),
    ("worker", TravelTimeConfig, "travel-time workers: `roadside central worker`, or the "
                                 "`worker:` section of central's file for the worker in serve"),
    ("client", ClientConfig, "the operators' commands (`query`, `links`): section `client:`"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    value = getattr(value, "value", value)
    return "none" if value is None or value == "" else f"`{value}`"


def _type(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("pathlib.", "")
    return getattr(hint, "__name__", text) if not typing.get_args(hint) else text


def settings_page() -> str:
    out = ["# Settings\n",
           "Every setting, from the code's own definitions. Layers, later wins: the default, "
           "a YAML file (`--config`), the environment (`ROADSIDE_` + the name in upper case; "
           "lists comma-separated), command-line flags (`--name-with-dashes`). Beside a "
           "laptop central, the commands also find its addresses and certificates by "
           "themselves, below every layer ([the operator's guide](../operator.md)).\n"]
    for section, cls, where in SETTINGS:
        comments = field_comments(cls, above=True)
        hints = typing.get_type_hints(cls)
        out.append(f"\n## {section}\n\n{where}.\n")
        out.append("| setting | environment | type | default | meaning |")
        out.append("| --- | --- | --- | --- | --- |")
        for f in dataclasses.fields(cls):
            out.append(f"| `{f.name}` | `{ENV_PREFIX}{f.name.upper()}` | "
                       f"{_cell(_type(hints[f.name]))} | {_cell(_default(f))} | "
                       f"{_cell(comments.get(f.name, ''))} |")
    return "\n".join(out) + "\n"


def _descriptors() -> descriptor_pb2.FileDescriptorSet:
    # as `make proto` sees them: proto/ is roadside/proto/ to protoc
    protos = sorted(f"roadside/proto/{p.relative_to(REPO / 'proto')}"
                    for p in (REPO / "proto").glob("*/*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                        f"-Iroadside/proto={REPO / 'proto'}", "--include_source_info",
                        f"--descriptor_set_out={out}", *protos], check=True)
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _comment(locations: dict[tuple[int, ...], str], path: tuple[int, ...]) -> str:
    return " ".join(locations.get(path, "").split())


def _heading(out: list[str], title: str, doc: str) -> None:
    out.append(f"\n### {title}\n")
    if doc:
        out.append(doc + "\n")


def grpc_page() -> str:
    out = ["# gRPC API\n",
           "From `proto/` (the wire contract) with the comments written there. `roadside.v1` "
           "is the current API; `collector` and `query` are the original system's, served on "
           "the same data. Every call needs the role the [security model](../security.md) "
           "gives it.\n"]
    for f in _descriptors().file:
        locations = {tuple(loc.path): loc.leading_comments or loc.trailing_comments
                     for loc in f.source_code_info.location}
        out.append(f"\n## {f.name.removeprefix('roadside/')} (package `{f.package}`)\n")
        for si, service in enumerate(f.service):
            _heading(out, f"service {service.name}", _comment(locations, (6, si)))
            out.append("| call | request | reply | what it does |")
            out.append("| --- | --- | --- | --- |")
            for mi, m in enumerate(service.method):
                req = ("stream " if m.client_streaming else "") + m.input_type.rsplit(".", 1)[-1]
                rep = ("stream " if m.server_streaming else "") + m.output_type.rsplit(".", 1)[-1]
                out.append(f"| `{m.name}` | {req} | {rep} | "
                           f"{_cell(_comment(locations, (6, si, 2, mi)))} |")
        for mi, message in enumerate(f.message_type):
            _heading(out, f"message {message.name}", _comment(locations, (4, mi)))
            if not message.field:
                continue
            out.append("| field | type | meaning |")
            out.append("| --- | --- | --- |")
            for fi, field in enumerate(message.field):
                kind = field.type_name.rsplit(".", 1)[-1] or \
                    descriptor_pb2.FieldDescriptorProto.Type.Name(field.type)[5:].lower()
                if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
                    kind = f"repeated {kind}"
                out.append(f"| `{field.name}` | {kind} | "
                           f"{_cell(_comment(locations, (4, mi, 2, fi)))} |")
        for ei, enum in enumerate(f.enum_type):
            _heading(out, f"enum {enum.name}", _comment(locations, (5, ei)))
            out.append(", ".join(f"`{v.name}`" for v in enum.value) + "\n")
    return "\n".join(out) + "\n"


def http_page() -> str:
    spec = make_app(None, None, False).openapi()  # type: ignore[arg-type]
    out = ["# HTTP API\n",
           "From the HTTP service's own OpenAPI document (also served at `/openapi.json`). "
           "Authentication: an operator certificate of the site CA over HTTPS, or an API key "
           "(`Authorization: Bearer KEY`, `roadside apikey issue`); with `http_open_data` the "
           "aggregates need no key. See [the desk](../desk.md).\n"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append(f"\n## {method.upper()} `{path}`\n")
            text = op.get("description") or op.get("summary") or ""
            if text:
                out.append(text.strip() + "\n")
            params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
            if params:
                out.append("| query parameter | type | required |")
                out.append("| --- | --- | --- |")
                for p in params:
                    schema = p.get("schema", {})
                    kind = schema.get("type") or " or ".join(
                        s.get("type", "?") for s in schema.get("anyOf", []))
                    required = "yes" if p.get("required") else "no"
                    out.append(f"| `{p['name']}` | {kind} | {required} |")
            codes = ", ".join(f"{code} {r.get('description', '')}"
                              for code, r in op.get("responses", {}).items())
            out.append(f"\nreplies: {codes}\n")
    return "\n".join(out) + "\n"


def cli_page() -> str:
    out = ["# Command line\n",
           "Every `roadside` command's `--help`, as the installed command prints it.\n"]
    for group in GROUPS:
        top = build_parser(group)
        (groups,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
        group_parser = groups.choices[group]
        out.append(f"\n## roadside {group}\n\n{GROUPS[group].description}\n")
        (subs,) = [a for a in group_parser._actions
                   if isinstance(a, argparse._SubParsersAction)]
        for name, parser in subs.choices.items():
            parser.prog = f"roadside {group} {name}"
            out.append(f"\n### roadside {group} {name}\n\n```text\n{parser.format_help()}```\n")
    return "\n".join(out) + "\n"


PAGES = {"reference/settings.md": settings_page, "reference/grpc.md": grpc_page,
         "reference/http.md": http_page, "reference/cli.md": cli_page}

for name, make in PAGES.items():
    with mkdocs_gen_files.open(name, "w") as page:
        page.write(make())
