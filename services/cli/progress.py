"""Progress on one terminal line: redrawn in place on a terminal, line by line otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["REDRAW_EVERY_S", "StatusLine"]

#: A line redrawn in place is redrawn at most this often (a redraw per event is flicker).
REDRAW_EVERY_S = 0.2


class StatusLine:
    """One line of progress on ``stream`` (stderr by default).

    On a terminal every ``draw`` rewrites the line in place; elsewhere (a log, a pipe) only
    the lines drawn with ``final=True`` are written, each on a line of its own.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self.in_place = self._stream.isatty()
        self._width = 0
        self._drawn_at = 0.0

    def due(self) -> bool:
        """Whether enough time has passed since the last draw to draw again."""
        return time.monotonic() - self._drawn_at >= REDRAW_EVERY_S

    def draw(self, text: str, *, final: bool = True) -> None:
        """Show ``text``: in place on a terminal, or (if ``final``) as a line of its own."""
        self._drawn_at = time.monotonic()
        if not self.in_place:
            if final and text:
                self._stream.write(text + "\n")
                self._stream.flush()
            return
        padding = " " * max(0, self._width - len(text))
        self._stream.write(f"\r{text}{padding}")
        self._stream.flush()
        self._width = len(text)

    def finish(self) -> None:
        """Leave the terminal's line clean for what comes next."""
        if self.in_place and self._width:
            self._stream.write(f"\r{' ' * self._width}\r")
            self._stream.flush()
            self._width = 0
