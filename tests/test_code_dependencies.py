"""Code dependencies that cannot drift, and an import graph without cycles.

Every stage's code deps in dvc.yaml are what `python -m benchmark.stage_deps` derives from the
imports (a change to any module a stage runs re-runs it); the project's modules import each
other without a cycle, also through imports written inside functions."""

from __future__ import annotations

from pathlib import Path

from benchmark.__main__ import COMMANDS as LISTED
from benchmark.core import code_graph
from benchmark.tools import code_deps

REPO = Path(__file__).resolve().parents[1]


def test_dvc_yaml_code_deps_are_the_generated_ones():
    current, generated = code_deps.updated_yaml()
    assert current == generated, "run `python -m benchmark.stage_deps` and commit dvc.yaml"


def test_a_card_holds_the_code_its_command_runs_and_nothing_else():
    rsna, siim = (code_deps.code_files("prepare", d) for d in ("rsna", "siim"))
    assert "benchmark/data/readers/rsna.py" in rsna and "benchmark/data/readers/siim.py" not in rsna
    assert "benchmark/data/readers/siim.py" in siim
    segment = code_deps.code_files("segment")
    assert {"benchmark/segment.py", "benchmark/evaluation/segment.py", "benchmark/core/atomic.py"} <= set(segment)
    assert "benchmark/evaluation/yolo.py" not in segment and "benchmark/evaluation/linear_probe.py" not in segment
    # the method card hashes its plug-ins: the plug-in folders count whole
    assert code_deps.code_files("method_card")[-2:] == ["mflag", "baselines"]


def test_an_edit_changes_only_the_cards_of_the_commands_that_run_it(tmp_path):
    """What makes DVC re-run exactly the stages an edit touches: the other cards stay byte-identical,
    also when Python has written its byte-code caches beside the sources."""
    import shutil

    for package in code_graph.PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_deps.command_cards(tmp_path)
    (tmp_path / "mflag" / "__pycache__").mkdir()
    (tmp_path / "mflag" / "__pycache__" / "losses.cpython-311.pyc").write_bytes(b"\0")
    with open(tmp_path / "benchmark" / "evaluation" / "yolo.py", "a") as f:
        f.write("# an edit\n")
    with open(tmp_path / "benchmark" / "data" / "readers" / "rsna.py", "a") as f:
        f.write("# an edit\n")
    after = code_deps.command_cards(tmp_path)
    changed = {name for name in before if before[name] != after[name]}
    assert {"detect.json", "prepare@rsna.json", "splits.json"} <= changed
    assert not changed & {"segment.json", "probe.json", "pretrain.json", "method_card.json", "prepare@siim.json",
                          "phantom@rsna.json"}, changed
    assert set(before["detect.json"]["sources"]) == set(code_deps.code_files("detect"))


def test_dvc_ignores_the_byte_code_python_writes_into_the_code_folders():
    """Without it every import made the code stage (and the method cards, which list mflag/ whole) look
    changed: `dvc status` was never clean on a machine that writes byte code."""
    from dvc.repo import Repo

    repo = Repo(str(REPO))
    for package in code_graph.PACKAGES:
        assert repo.dvcignore.is_ignored(repo.fs, f"{REPO}/{package}/__pycache__/x.cpython-311.pyc"), package
        assert not repo.dvcignore.is_ignored(repo.fs, f"{REPO}/{package}/__init__.py"), package


def test_imports_are_found_inside_functions_and_relative(tmp_path):
    pkg = tmp_path / "benchmark"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "b.py", "c.py", "sub/__init__.py", "sub/d.py", "registry.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("import os\nfrom benchmark import b\n\ndef f():\n    from .sub.d import x\n")
    (pkg / "sub" / "d.py").write_text("from ..c import y\n")
    assert code_graph.imports(pkg / "a.py", tmp_path) == {"benchmark", "benchmark.b", "benchmark.sub", "benchmark.sub.d"}
    assert code_graph.imports(pkg / "sub" / "d.py", tmp_path) == {"benchmark", "benchmark.c"}
    assert code_graph.closure("benchmark.a", tmp_path) == {"benchmark", "benchmark.a", "benchmark.b", "benchmark.sub",
                                                           "benchmark.sub.d", "benchmark.c"}


def test_the_import_graph_has_no_cycle():
    modules = sorted({code_graph.module_name(p) for pkg in code_graph.PACKAGES for p in (REPO / pkg).rglob("*.py")})
    graph = {m: sorted(i for i in code_graph.imports(code_graph.module_file(m)) if i != m) for m in modules}
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


#: the library packages, each importing only those before it (the pipeline's roles, bottom up)
LAYERS = ("core", "data", "pretraining", "reporting", "evaluation", "tools")


def test_library_packages_import_only_the_layers_below():
    """No loop between packages either (evaluation <-> reporting and pretraining <-> tools once were)."""
    problems = []
    for layer, package in enumerate(LAYERS):
        for path in sorted((REPO / "benchmark" / package).rglob("*.py")):
            for module in code_graph.imports(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[0] == "benchmark" and parts[1] in LAYERS and LAYERS.index(parts[1]) > layer:
                    problems.append(f"{path.relative_to(REPO)} imports {module}")
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in (REPO / "benchmark").iterdir() if (p / "__init__.py").is_file() and p.name != "configs") \
        == sorted(LAYERS)


#: the commands, ``python -m benchmark.<command>`` (as ``python -m benchmark`` lists them), and imagenet
COMMANDS = (*LISTED, "imagenet")
#: what no command may import before it has parsed its arguments
HEAVY = ("torch", "pandas", "sklearn", "torchvision", "transformers")


def test_every_command_is_a_thin_module_at_the_top():
    for command in COMMANDS:
        assert (REPO / "benchmark" / f"{command}.py").is_file(), command
    libraries = [p for p in (REPO / "benchmark").glob("*.py") if p.stem not in (*COMMANDS, "__init__", "__main__")]
    assert not libraries, f"library modules belong in a subpackage: {libraries}"


def test_help_imports_no_heavy_library_and_every_flag_has_help():
    import json
    import subprocess
    import sys

    script = f"""
import argparse, contextlib, importlib, io, json, sys
command, heavy = sys.argv[1], {HEAVY!r}
module = importlib.import_module("benchmark." + command)
with contextlib.redirect_stdout(io.StringIO()):
    try:
        module.main(["--help"])
    except SystemExit:
        pass
loaded = sorted(h for h in heavy if h in sys.modules)
parsers = [module.build_parser(*sub) for sub in ([(s,) for s in getattr(module, "SUBCOMMANDS", ())] or [()])]
bare = [f"{{p.prog}} {{'/'.join(a.option_strings) or a.dest}}" for p in parsers for a in p._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
print(json.dumps({{"loaded": loaded, "bare": bare}}))
"""
    for command in COMMANDS:
        proc = subprocess.run([sys.executable, "-c", script, command], cwd=REPO, capture_output=True, text=True, check=True)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
        assert found["loaded"] == [], f"python -m benchmark.{command} --help imports {found['loaded']}"
        assert found["bare"] == [], f"flags without help: {found['bare']}"


def test_splits_help_lists_its_sub_commands(capsys):
    from benchmark import splits

    for argv in (["--help"], ["publish", "--help"]):
        try:
            splits.main(argv)
        except SystemExit as done:
            assert done.code == 0
        shown = capsys.readouterr().out
        assert all(f"  {name} " in shown for name in splits.SUBCOMMANDS), shown


def _defined_names(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks
            for sub in node.body:
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
    return names


def test_every_project_import_names_a_module_and_a_name_that_exist():
    """Also the imports written inside functions, which run only when their function does: after a
    module moves, none may still name its old place."""
    import ast

    problems = []
    for pkg in (*code_graph.PACKAGES, "tests"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] in code_graph.PACKAGES and code_graph.module_file(alias.name) is None:
                            problems.append(f"{path.relative_to(REPO)}:{node.lineno}: no module {alias.name}")
                elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in code_graph.PACKAGES:
                    source = code_graph.module_file(node.module)
                    if source is None:
                        problems.append(f"{path.relative_to(REPO)}:{node.lineno}: no module {node.module}")
                        continue
                    defined = _defined_names(source)
                    for alias in node.names:
                        if alias.name not in defined and code_graph.module_file(f"{node.module}.{alias.name}") is None:
                            problems.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module} has no {alias.name}")
    assert not problems, "\n".join(problems)


def test_registries_name_modules_that_exist():
    from benchmark.data.datasets import LABEL_TABLES, READERS, WRITERS
    from benchmark.pretraining.method_specs import PLUGIN_MODULES

    for registry in (WRITERS, READERS, LABEL_TABLES):
        for name in registry:
            assert code_graph.module_file(registry.module(name)) is not None, registry.module(name)
    for module in PLUGIN_MODULES.values():
        assert code_graph.module_file(module) is not None, module
