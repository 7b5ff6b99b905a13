"""What the replay, record and sim commands share: a sub-command parser whose description is
its module's docstring, and a progress display on stderr.

On a terminal the progress line is redrawn in place a few times a second, its bar sized to
fit the terminal's width (the line is cut rather than wrapped), and log records get lines of
their own (the bar is cleared first and redrawn at the next update). When stderr is a pipe or
a file (a log, `2>file`, systemd) there is no redrawing: a plain line at most every
LOG_EVERY_S, the first only after that long, so a short run prints just its final line.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

REDRAW_S = 0.2  # at most this often on a terminal
LOG_EVERY_S = 30.0  # at most this often when stderr is a file or a pipe
FALLBACK_COLUMNS = 80  # when the terminal does not say how wide it is
BAR_WIDTH = 24  # in a log; on a terminal between BAR_MIN and BAR_WIDTH, as room allows
BAR_MIN = 10
CLEAR_LINE = "\r\x1b[K"  # back to the line's start, erase to its end


class ProgressLine:
    """One line of progress on `stream` (stderr); `show` updates it, `done` ends it.

    Use as a context manager so that an error leaves the terminal on a fresh line.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._drawn = False  # a partial line is on the terminal
        self._handlers: list[logging.Handler] = []
        self._last = 0.0
        self._restart()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (REDRAW_S if self.tty else LOG_EVERY_S):
            return
        self._last = now
        if self.tty:
            self._hold_logs()
            self.stream.write(CLEAR_LINE + text[: self._columns() - 1])
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        """The final state, on its own line; a later `show` starts a new line."""
        if not self.enabled:
            return
        self.show(text, force=True)
        self.close()

    def update(self, label: str, done: float, total: float, detail: str) -> None:
        """`label [#######.........]  37%  detail`, `?` while the total is unknown."""
        if self.enabled:
            self.show(self._bar_text(label, done, total, detail))

    def finish(self, label: str, done: float, total: float, detail: str) -> None:
        """The bar's final state (as `done`)."""
        if self.enabled:
            self.done(self._bar_text(label, done, total, detail))

    def _bar_text(self, label: str, done: float, total: float, detail: str) -> str:
        width = BAR_WIDTH
        if self.tty:
            room = self._columns() - 1 - len(progress_text(label, done, total, detail, 0))
            width = max(BAR_MIN, min(BAR_WIDTH, room))
        return progress_text(label, done, total, detail, width)

    def close(self) -> None:
        """End the line (a newline after a drawn bar) and let log records through as before."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
        for handler in self._handlers:
            handler.removeFilter(self._clear_for_log)
        self._handlers = []
        self._restart()

    def _restart(self) -> None:
        # on a terminal draw at once; in a log wait LOG_EVERY_S before the first line
        self._last = -math.inf if self.tty else time.monotonic()

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns if columns > 1 else FALLBACK_COLUMNS

    def _hold_logs(self) -> None:
        """Have log handlers that write to our stream clear the bar before each record."""
        if self._handlers:
            return
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is self.stream:
                handler.addFilter(self._clear_for_log)
                self._handlers.append(handler)

    def _clear_for_log(self, record: logging.LogRecord) -> bool:
        if self._drawn:
            self.stream.write(CLEAR_LINE)
            self._drawn = False
            self._last = -math.inf  # redraw at the next update
        return True


def bar(done: float, total: float, width: int = 24) -> str:
    if total <= 0:
        return "[" + "?" * width + "]"
    filled = min(width, int(width * done // total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_text(label: str, done: float, total: float, detail: str,
                  width: int = BAR_WIDTH) -> str:
    """`label [#########...............]  37%  detail`; `?` while the total is unknown."""
    if total <= 0:
        return f"{label} {bar(done, total, width)}    ?  {detail}"
    percent = min(100, max(0, int(100 * done // total)))
    return f"{label} {bar(done, total, width)} {percent:3d}%  {detail}"


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
