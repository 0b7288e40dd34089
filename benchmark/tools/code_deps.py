"""``python -m benchmark.stage_deps [--check]``: each DVC stage's code dependencies, derived from its imports.

A stage must re-run when any code it runs changes, and only then. Listing that code by
hand drifts (``features`` once missed ``encoders.py``, ``probe`` missed ``metrics.py``), so
the code entries of every stage's ``deps`` in ``dvc.yaml`` are generated here: the module
its command runs, every project module that module imports (top level and inside
functions, transitively, with the packages each import passes through), and the entries
the lazy registries load for the stage's item (a reader, a phantom writer). Data
dependencies (everything outside ``benchmark/``, ``mflag/``, ``baselines/``) are kept as
written. ``--check`` exits 1 when ``dvc.yaml`` differs from what would be written (a test
runs it); without it the file is rewritten in place, comments kept.

The method-card stage (:mod:`benchmark.method_card`) lists the plug-in folders whole; each
``pretrain@`` stage depends on its method's card instead, so an edit re-runs only the methods
it touches.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable
from pathlib import Path

from benchmark.core.code_graph import PACKAGES, REPO, closure, module_file

#: code a stage loads by name at run time (lazy registries), beyond its imports: stage -> item -> modules
DYNAMIC = {
    "phantom": lambda item: [_registry_module("WRITERS", item)],
    "prepare": lambda item: [_registry_module("READERS", item)],
    "splits": lambda item: _label_table_modules(),  # every dataset's label table
    "method": lambda item: _plugin_modules(),  # a card hashes its plug-in's sources: any plug-in's imports count
    "probe": lambda item: _probe_column_modules(),  # label columns a probe spec names by reference
}


def _registry_module(registry: str, item: str) -> str:
    """The module a dataset spec names for ``item`` in a registry view (its reader, its writer)."""
    from benchmark.data import datasets

    return getattr(datasets, registry).module(item)


def _probe_column_modules() -> list[str]:
    from benchmark.data.datasets import DATASETS

    return sorted({spec.probe.columns.partition(":")[0] for spec in DATASETS.values()
                   if spec.probe and isinstance(spec.probe.columns, str)})


def _plugin_modules() -> list[str]:
    from benchmark.pretraining.method_specs import PLUGIN_MODULES

    return sorted(set(PLUGIN_MODULES.values()))


def _label_table_modules() -> list[str]:
    from benchmark.data.datasets import LABEL_TABLES

    return [LABEL_TABLES.module(name) for name in LABEL_TABLES]
#: stages that load plug-ins by name: the plug-in folders are deps as a whole (the method card
#: stage, whose output then changes only for the methods an edit touches)
WHOLE_FOLDERS = {"method": ("mflag", "baselines")}


def is_code(dep: str) -> bool:
    """A module or a code folder of the project (regenerated); config and reference files such as
    ``benchmark/configs/methods.yaml`` are data the code reads and are kept as written."""
    path = Path(dep)
    return path.parts[0] in PACKAGES and (path.suffix == ".py" or not path.suffix)


def stage_modules(spec: dict, params: dict) -> dict[str, list[tuple[str | None, str]]]:
    """Stage name -> [(item or None, command module)] for every stage of a dvc.yaml mapping."""
    out = {}
    for name, stage in spec["stages"].items():
        body = stage.get("do", stage)
        items = stage.get("foreach")
        if isinstance(items, str):
            items = params[items.strip("${} ")]
        module = re.search(r"python -m ([\w.]+)", body["cmd"]).group(1)
        out[name] = [(item, module) for item in (items or [None])]
    return out


def code_deps(stage: str, runs: list[tuple[str | None, str]], root: Path = REPO) -> list[str]:
    """The code entries of a stage's deps: files every item needs, plus ``${item}`` patterns for the
    modules a registry loads per item; whole plug-in folders where the stage loads packages."""
    whole = WHOLE_FOLDERS.get(stage, ())
    per_item = []
    for item, module in runs:
        extra = tuple(DYNAMIC[stage](item)) if stage in DYNAMIC else ()
        extra += whole  # plug-in packages: what they import from benchmark/ counts too
        files = {module_file(m, root).relative_to(root).as_posix() for m in closure(module, root, extra)}
        per_item.append({f for f in files if f.split("/")[0] not in whole})
    common = set.intersection(*per_item)
    varying = set.union(*per_item) - common
    patterns = set()
    for item, _ in runs:
        for f in varying:
            if item is not None and Path(f).stem == str(item):
                patterns.add(str(Path(f).with_name("${item}.py").as_posix()))
    covered = {p.replace("${item}", str(item)) for p in patterns for item, _ in runs}
    # helpers only some items import (a DICOM writer, say) are listed for all: a needless re-run, never a missed one
    return sorted(common | patterns | (varying - covered)) + list(whole)


#: stages whose dataset lists follow from the dataset specs: stage -> the task whose datasets it runs
#: (``all``: every dataset; ``phantom``: every dataset with a phantom writer)
DATASET_STAGES = {"phantom": "phantom", "prepare": "all", "features": "classification", "probe": "classification",
                  "segment": "segmentation", "detect": "detection"}
_STORE_OR_SPLIT = re.compile(r"^data/(store/[^/]+|splits/[^/]+/[^/]+\.csv)$")


def stage_datasets(stage: str) -> list[str]:
    from benchmark.data.datasets import DATASETS, datasets_for

    task = DATASET_STAGES[stage]
    if task == "all":
        return list(DATASETS)
    if task == "phantom":
        return [name for name, spec in DATASETS.items() if spec.phantom]
    return list(datasets_for(task))


def _set_dataset_lists(spec) -> None:
    """Rewrite, from the dataset specs, the datasets each stage loops over or names: ``foreach``
    lists, ``--datasets`` of a command, the store and split-manifest deps, the splits stage's
    label-file deps."""
    from ruamel.yaml.scalarstring import FoldedScalarString

    from benchmark.data.datasets import DATASETS

    for stage, body in spec["stages"].items():
        if stage not in DATASET_STAGES:
            continue
        names = stage_datasets(stage)
        if "foreach" in body and not isinstance(body["foreach"], str):
            body["foreach"][:] = names
            continue
        body = body.get("do", body)
        cmd = re.sub(r"--datasets(?: [A-Za-z0-9_][\w-]*)+", "--datasets " + " ".join(names), str(body["cmd"]))
        if cmd != str(body["cmd"]):
            body["cmd"] = FoldedScalarString(cmd)
        deps = list(body.get("deps") or [])
        protocols = [d.rsplit("/", 1)[1] for d in deps if isinstance(d, str) and d.startswith("data/splits/")]
        stores = [f"data/store/{n}" for n in names] if any(str(d).startswith("data/store/") for d in deps) else []
        manifests = [f"data/splits/{n}/{protocols[0]}" for n in names] if protocols else []
        body["deps"] = _splice(deps, lambda d: isinstance(d, str) and bool(_STORE_OR_SPLIT.match(d)), stores + manifests)
    splits = spec["stages"].get("splits")
    if splits is not None:
        wanted = [f"${{raw}}/{name}/{file}" for name, ds in DATASETS.items() if ds.label_table for file in ds.split_deps]
        splits["deps"] = _splice(list(splits["deps"]), lambda d: isinstance(d, str) and d.startswith("${raw}/"), wanted,
                                 where_none=0)


def _splice(deps: list, generated: Callable[[object], bool], wanted: list, where_none: int | None = None) -> list:
    """``deps`` with its generated entries replaced by ``wanted``, placed where the first generated
    entry stood (at ``where_none``, default the end, when there was none)."""
    at = next((i for i, d in enumerate(deps) if generated(d)), len(deps) if where_none is None else where_none)
    return [d for d in deps[:at] if not generated(d)] + wanted + [d for d in deps[at:] if not generated(d)]


def updated_yaml(root: Path = REPO) -> tuple[str, str]:
    """(current dvc.yaml text, the text with every stage's dataset lists and code deps regenerated)."""
    from ruamel.yaml import YAML

    path = root / "dvc.yaml"
    text = path.read_text()
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    spec = yaml.load(text)
    params = YAML(typ="safe").load((root / "params.yaml").read_text())
    _set_dataset_lists(spec)
    for stage, runs in stage_modules(spec, params).items():
        body = spec["stages"][stage].get("do", spec["stages"][stage])
        deps = body.get("deps") or []
        data = [d for d in deps if not (isinstance(d, str) and is_code(d))]
        body["deps"] = data + code_deps(stage, runs, root)
    out = io.StringIO()
    yaml.dump(spec, out)
    return text, out.getvalue()


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.stage_deps`` does with its parsed arguments."""
    current, generated = updated_yaml()
    if args.check:
        if current != generated:
            print("stage_deps: dvc.yaml's code deps differ from the imports; run `python -m benchmark.stage_deps`")
            return 1
        print("stage_deps: dvc.yaml's code deps match the imports")
        return 0
    if current != generated:
        (REPO / "dvc.yaml").write_text(generated)
        print("stage_deps: rewrote the code deps in dvc.yaml")
    else:
        print("stage_deps: dvc.yaml already up to date")
    return 0
