"""The user's data is never at risk: a stage's output never overlaps its inputs or another stage's output.

Every stage replaces its ``--out`` as a whole when it succeeds (:mod:`benchmark.core.atomic`), so
a mistyped ``--out`` could otherwise delete a raw dataset, a store or a trained model.
:func:`check_output` runs before any work and refuses

- an output that is, contains or lies inside one of the stage's inputs (``prepare --root R
  --out R`` would replace the raw dataset with its store);
- an existing output that this kind of stage did not write, recognised by the description
  file each stage writes into its outputs (a store's ``store.json``, a model's
  ``meta.json``, ...): pointing one stage at another's output, or at a raw dataset, is
  refused instead of replacing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from benchmark.core.atomic import is_hidden
from benchmark.core.errors import DataError


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def check_output(out: Path, inputs: Iterable[Path | None], what: str, owns: Callable[[Path], bool]) -> None:
    """Refuse ``out`` when it overlaps an input, or exists without being a ``what`` (``owns(out)``)."""
    check_no_overlap(out, inputs)
    out = Path(out)
    if out.exists() and not (out.is_dir() and owns(out)):
        held = "a file" if not out.is_dir() else \
            "holds " + (", ".join(sorted(p.name for p in out.iterdir() if not is_hidden(p, out))[:3]) or "nothing visible")
        raise DataError(out, f"exists and is not a {what} written by this stage ({held}); it would be replaced as a "
                        "whole: give a new folder, or delete it yourself")


def check_no_overlap(out: Path, inputs: Iterable[Path | None]) -> None:
    """Refuse an output that is, contains or lies inside one of ``inputs``."""
    out = Path(out)
    resolved = out.resolve()
    for item in inputs:
        if item is None:
            continue
        if _overlap(resolved, Path(item).resolve()):
            relation = "is" if resolved == Path(item).resolve() else \
                "lies inside" if Path(item).resolve() in resolved.parents else "contains"
            raise DataError(out, f"output {relation} the input {item}; it would be replaced as a whole: "
                            "give an output folder of its own")


def has_file(name: str) -> Callable[[Path], bool]:
    """``owns`` for outputs recognised by one description file, e.g. ``has_file("store.json")``."""
    return lambda folder: (folder / name).is_file()


def children_have_file(name: str) -> Callable[[Path], bool]:
    """``owns`` for folders of per-dataset outputs: every visible child is a folder with ``name``."""
    def owns(folder: Path) -> bool:
        children = [c for c in folder.iterdir() if not is_hidden(c, folder)]
        return all(c.is_dir() and (c / name).is_file() for c in children)
    return owns
