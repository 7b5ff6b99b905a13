"""What the replay, record and sim commands share: a sub-command parser whose description is
its module's docstring, and a one-line progress display on stderr (redrawn in place on a
terminal, a log line otherwise)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

REDRAW_S = 0.2  # at most this often on a terminal
LOG_EVERY_S = 10.0  # at most this often when stderr is a file or a pipe


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._width = 0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (REDRAW_S if self.tty else LOG_EVERY_S):
            return
        self._last = now
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        """The final state, on its own line."""
        if not self.enabled:
            return
        if self.tty:
            self.show(text, force=True)
            self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def bar(done: int, total: int, width: int = 24) -> str:
    if total <= 0:
        return "[" + "?" * width + "]"
    filled = min(width, width * done // total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def subcommand(sub: Any, name: str, doc: str | None,
               func: Callable[[argparse.Namespace], int], help_text: str,
               ) -> argparse.ArgumentParser:
    """Add sub-command `name`, described by `doc` as written (a module's docstring)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser
