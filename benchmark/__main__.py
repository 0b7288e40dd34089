"""``python -m benchmark``: the commands of the harness, one line each, in pipeline order.

``python -m benchmark <command> [args]`` runs one (the same as ``python -m benchmark.<command>``).
The list is read from the modules' docstrings without importing them, so it answers at once.
"""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the commands in the order the pipeline runs them, then the tools around it
COMMANDS = ("phantom", "roots", "prepare", "splits", "embed", "code_cards", "method_card", "pretrain", "import_weights", "features",
            "probe", "segment", "detect", "evaluate", "report", "compare", "smoke", "bench", "parameters",
            "protocol", "stage_deps")


def summary(command: str) -> str:
    doc = ast.get_docstring(ast.parse((HERE / f"{command}.py").read_text())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    # docstrings open with "``python -m benchmark.x ...``: what it does"; keep what it does
    return first.split("``: ", 1)[-1].rstrip(".")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        sys.argv = [f"python -m benchmark {argv[0]}", *argv[1:]]
        runpy.run_module(f"benchmark.{argv[0]}", run_name="__main__", alter_sys=True)
        return 0
    if argv and argv[0] not in ("-h", "--help"):
        print(f"error: <input>: unknown command {argv[0]!r}; `python -m benchmark` lists them", file=sys.stderr)
        return 2
    width = max(map(len, COMMANDS))
    print("usage: python -m benchmark <command> [args]   (or python -m benchmark.<command>; each takes --help)\n")
    for command in COMMANDS:
        print(f"  {command:<{width}}  {summary(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
