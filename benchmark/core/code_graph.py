"""The project's import graph, read from its source (no module is imported).

Which project modules a module can import, at top level or inside functions (but not under
``if TYPE_CHECKING:``, which never runs), transitively: what a DVC stage's code deps are
(:mod:`benchmark.tools.code_deps`) and what a method card hashes
(:mod:`benchmark.pretraining.method_card`). A library of its own so that neither of those
depends on the other.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("benchmark", "mflag", "baselines")


def module_file(name: str, root: Path = REPO) -> Path | None:
    base = root / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path, root: Path = REPO) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path, root: Path = REPO) -> set[str]:
    """Project modules ``path`` imports anywhere (also inside functions), with the packages an
    import passes through (importing a.b.c runs a/__init__ and a/b/__init__). What lazy
    registries load by name is added per stage (:data:`DYNAMIC`)."""
    found: set[str] = set()
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    for node in _runtime_nodes(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] not in PACKAGES:
                continue
            for i in range(1, len(parts) + 1):
                if module_file(".".join(parts[:i]), root) is not None:
                    found.add(".".join(parts[:i]))
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for annotations only,
    never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                todo += child.orelse
                continue
            todo.append(child)


def closure(module: str, root: Path = REPO, extra: tuple[str, ...] = ()) -> set[str]:
    """Every project module that running ``python -m module`` can import."""
    start = [module] + list(extra)
    if module_file(module, root) is not None and module_file(module, root).name == "__init__.py" \
            and module_file(f"{module}.__main__", root) is not None:
        start.append(f"{module}.__main__")
    seen: set[str] = set()
    todo = start
    while todo:
        name = todo.pop()
        if name in seen or module_file(name, root) is None:
            continue
        seen.add(name)
        todo += sorted(imports(module_file(name, root), root))
        parts = name.split(".")  # a module's packages run first
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
    return seen


def source_files(path: Path) -> list[Path]:
    """``path`` itself, or for a folder every file under it except byte-code caches and hidden
    names (what Python writes beside the sources when it imports them is not code)."""
    if not path.is_dir():
        return [path]
    return sorted(f for f in path.rglob("*") if f.is_file() and f.suffix != ".pyc"
                  and not any(part == "__pycache__" or part.startswith(".") for part in f.relative_to(path).parts))


def source_hashes(paths: Iterable[Path], root: Path = REPO) -> dict[str, str]:
    """Path (relative to ``root`` where it lies inside) -> SHA-256 of every file of ``paths``
    (folders expanded by :func:`source_files`), sorted: equal sources give equal bytes."""
    out = {}
    for path in paths:
        for file in source_files(path):
            name = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
            out[name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return dict(sorted(out.items()))
