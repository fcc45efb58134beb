"""Errors a user can cause. The CLI turns each into one line and exit status 2."""

from __future__ import annotations

import sys


class InputError(Exception):
    """Bad input from the user: a file, a line (when known) and a reason.

    Raised anywhere in the library; `newsbench.cli` prints `str(err)` as one line and exits 2,
    without a traceback. Whoever raises it must not have left partial output behind.
    """

    def __init__(self, reason: str, file: str | None = None, line: int | None = None):
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        return where + self.reason


def warn(message: str) -> None:
    """A warning a user should see (dropped ids, a rebuilt cache): one line on stderr, like an error's."""
    print(f"newsbench: warning: {message}", file=sys.stderr, flush=True)
