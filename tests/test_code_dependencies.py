"""Code dependencies that cannot drift, and an import graph without cycles.

Every stage's code deps in dvc.yaml are what `python -m benchmark.stage_deps` derives from the
imports (a change to any module a stage runs re-runs it); the project's modules import each
other without a cycle, also through imports written inside functions."""

from __future__ import annotations

from pathlib import Path

from benchmark import stage_deps

REPO = Path(__file__).resolve().parents[1]


def test_dvc_yaml_code_deps_are_the_generated_ones():
    current, generated = stage_deps.updated_yaml()
    assert current == generated, "run `python -m benchmark.stage_deps` and commit dvc.yaml"


def test_imports_are_found_inside_functions_and_relative(tmp_path):
    pkg = tmp_path / "benchmark"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "b.py", "c.py", "sub/__init__.py", "sub/d.py", "registry.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("import os\nfrom benchmark import b\n\ndef f():\n    from .sub.d import x\n")
    (pkg / "sub" / "d.py").write_text("from ..c import y\n")
    assert stage_deps.imports(pkg / "a.py", tmp_path) == {"benchmark", "benchmark.b", "benchmark.sub", "benchmark.sub.d"}
    assert stage_deps.imports(pkg / "sub" / "d.py", tmp_path) == {"benchmark", "benchmark.c"}
    assert stage_deps.closure("benchmark.a", tmp_path) == {"benchmark", "benchmark.a", "benchmark.b", "benchmark.sub",
                                                           "benchmark.sub.d", "benchmark.c"}


def test_the_import_graph_has_no_cycle():
    modules = sorted({stage_deps.module_name(p) for pkg in stage_deps.PACKAGES for p in (REPO / pkg).rglob("*.py")})
    graph = {m: sorted(i for i in stage_deps.imports(stage_deps.module_file(m)) if i != m) for m in modules}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt == node.rpartition(".")[0] or node.startswith(nxt + "."):
                continue  # a module and the packages it lives in: Python runs those first, not a cycle
            if nxt.startswith(node + "."):
                continue  # a package's __init__ importing its own submodules (plug-in registration)
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in modules:
        if module not in state:
            visit(module, [module])
