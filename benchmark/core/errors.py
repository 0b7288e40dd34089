"""One error type for bad input, and the CLI wrapper that turns it into one line.

Readers raise :class:`DataError` naming the file (and row) and what is wrong; every
``python -m benchmark.<stage>`` entry point runs through :func:`run_cli`, which
prints that single line to stderr and exits non-zero instead of a traceback.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from pathlib import Path


class DataError(Exception):
    """Bad or missing input; the message is a single line naming file and problem."""

    def __init__(self, path: str | Path | None, problem: str, row: int | None = None) -> None:
        # one line even when the problem quotes a library's multi-line message
        problem = " ".join(part.strip() for part in str(problem).splitlines() if part.strip())
        where = str(path) if path is not None else "<input>"
        if row is not None:
            where = f"{where}, row {row}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.row = row
        self.problem = problem

    def __reduce__(self):
        """Rebuilt from its parts when it crosses a process boundary (a parallel store build)."""
        return (DataError, (self.path, self.problem, self.row))


def first_line(err: BaseException) -> str:
    """The first line of a library's error message (its type name when the message is empty),
    to quote inside a one-line DataError."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def read_json_object(path: str | Path, what: str, hint: str = "") -> dict:
    """A JSON object file that a stage wrote (a description, a meta file); a damaged one is a
    DataError naming it, ``hint`` says what to do (e.g. "; prepare it again")."""
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"unreadable {what} ({err}){hint}") from None
    if not isinstance(data, dict):
        raise DataError(path, f"{what} is not a JSON object{hint}")
    return data


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a stage's ``main`` and exit; a DataError becomes one ``error:`` line and exit code 2."""
    try:
        code = main(argv)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # a full disk, a read-only folder, a file where a folder belongs: one line, not a traceback
        where = err.filename if err.filename is not None else "<output>"
        hint = "; free space there and run the stage again" if err.errno == errno.ENOSPC else ""
        print(f"error: {where}: {err.strerror or err}{hint}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
