"""Each DVC stage's code dependencies, derived from its imports, and the code cards that carry them.

A stage must re-run when any code it runs changes, and only then. Listing that code by
hand drifts (``features`` once missed ``encoders.py``, ``probe`` missed ``metrics.py``), so
it is derived here: the module a stage's command runs, every project module that module
imports (top level and inside functions, transitively, with the packages each import passes
through), and the entries the lazy registries load for the stage's item (a reader, a phantom
writer).

Those files are not listed in ``dvc.yaml`` one by one. DVC rewrites the whole ``dvc.lock``
after every stage, and with ~35 code files in each of the 71 stages of the default pipeline
the lock held 2,100 code entries (340 KB, 11,700 lines): re-writing it cost ~1.8 s a stage,
~1.5 minutes of a 30-minute run (AMD EPYC, 2026-12-03, side by side, 4 alternating pairs:
``dvc repro -f -s method``, nine stages of 0.5 s each, took 19.9 s with that lock and 8.8 s with
the cards' 97 KB lock). Instead the ``code`` stage
(``python -m benchmark.code_cards``) depends on the code folders as a whole and writes one
*card* per command (per dataset for the commands that load a dataset's reader or writer by
name): the SHA-256 of every file it runs, read from the source alone (DVC refuses ``dvc.yaml``
as a dependency, so the cards cannot follow the stage list; every command gets one). Each stage
depends on its command's card; an edit rewrites only the cards of the commands whose code it
touches, the other cards come out byte-identical, and DVC re-runs exactly those stages -- as
the per-method cards already do for pre-training (:mod:`benchmark.pretraining.method_card`).

``python -m benchmark.stage_deps`` rewrites the generated parts of ``dvc.yaml``: each stage's
card dependency and the dataset lists that follow from the dataset specs. Data dependencies
(everything outside ``benchmark/``, ``mflag/``, ``baselines/``) are kept as written.
``--check`` exits 1 when ``dvc.yaml`` differs from what would be written (a test runs it);
without it the file is rewritten in place, comments kept.

The method-card command's code card holds the plug-in folders whole (it reads any plug-in);
each ``pretrain@`` stage depends on its method's card (``data/methods/<method>.json``, which
hashes that method's plug-in sources) instead, so an edit re-runs only the methods it touches.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable
from pathlib import Path

from benchmark.core.code_graph import PACKAGES, REPO, closure, module_file, source_hashes
from benchmark.core.errors import DataError

#: the stage that writes the code cards, and where: it depends on the code folders themselves
CODE_STAGE = "code"
CARDS = "data/code"

#: code a command loads by name at run time (lazy registries), beyond its imports: command -> item -> modules
DYNAMIC = {
    "phantom": lambda item: [_registry_module("WRITERS", item)],
    "prepare": lambda item: [_registry_module("READERS", item)],
    "splits": lambda item: _label_table_modules(),  # every dataset's label table
    "method_card": lambda item: _plugin_modules(),  # a card hashes its plug-in's sources: any plug-in's imports count
    "probe": lambda item: _probe_column_modules(),  # label columns a probe spec names by reference
}
#: commands whose code depends on the dataset they run for: one card per dataset (the stage that runs
#: one is a ``foreach`` over those datasets)
PER_DATASET = ("phantom", "prepare")


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
#: commands that load plug-ins by name: their cards hold the plug-in folders whole (the method card
#: command, whose output then changes only for the methods an edit touches)
WHOLE_FOLDERS = {"method_card": ("mflag", "baselines")}


def is_code(dep: str) -> bool:
    """A module, a code folder of the project or a code card (regenerated); config and reference
    files such as ``benchmark/configs/methods.yaml`` are data the code reads and are kept as written."""
    path = Path(dep)
    return (path.parts[0] in PACKAGES and (path.suffix == ".py" or not path.suffix)) or dep.startswith(CARDS + "/")


def command_of(module: str, stage: str) -> str:
    """The command (``benchmark/<command>.py``) a stage's ``python -m`` module is; cards exist for those only."""
    from benchmark.__main__ import COMMANDS

    command = module.removeprefix("benchmark.")
    if module != f"benchmark.{command}" or command not in COMMANDS:
        raise DataError(REPO / "dvc.yaml", f"stage {stage!r} runs {module}, not one of the commands of "
                        "benchmark/__main__.py (COMMANDS): add it there, so that the code stage writes its card")
    return command


def card_name(command: str, item: str | None = None) -> str:
    """A command's card: ``segment.json``, or ``prepare@rsna.json`` for a command whose code depends on the dataset."""
    return f"{command}@{item}.json" if item is not None else f"{command}.json"


def card_dep(stage: str, module: str) -> str:
    """The card a stage depends on, as ``dvc.yaml`` writes it."""
    command = command_of(module, stage)
    return f"{CARDS}/{card_name(command, '${item}' if command in PER_DATASET else None)}"


def stage_modules(spec: dict) -> dict[str, str]:
    """Stage name -> the module its command runs, for every stage of a dvc.yaml mapping."""
    return {name: re.search(r"python -m ([\w.]+)", stage.get("do", stage)["cmd"]).group(1)
            for name, stage in spec["stages"].items()}


def code_files(command: str, item: str | None = None, root: Path = REPO) -> list[str]:
    """Every file ``python -m benchmark.<command>`` runs (for ``item``, where the command loads code by
    dataset): its module, what it imports, what its registries load, whole plug-in folders."""
    extra = tuple(DYNAMIC[command](item)) if command in DYNAMIC else ()
    whole = WHOLE_FOLDERS.get(command, ())
    files = {module_file(m, root).relative_to(root).as_posix() for m in closure(f"benchmark.{command}", root, extra + whole)}
    return sorted(f for f in files if f.split("/")[0] not in whole) + list(whole)


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
    _set_dataset_lists(spec)
    if CODE_STAGE not in spec["stages"]:
        raise DataError(path, f"no {CODE_STAGE!r} stage: the stages' code cards have nothing to write them")
    for stage, module in stage_modules(spec).items():
        if stage == CODE_STAGE:
            continue  # it depends on the code folders as written
        body = spec["stages"][stage].get("do", spec["stages"][stage])
        deps = body.get("deps") or []
        data = [d for d in deps if not (isinstance(d, str) and is_code(d))]
        card = card_dep(stage, module)
        if "${item}" in card and "foreach" not in spec["stages"][stage]:
            raise DataError(path, f"stage {stage!r} runs {module}, whose code depends on the dataset: make it a "
                            "foreach over the datasets, so that each item depends on its own card")
        body["deps"] = data + [card]
    out = io.StringIO()
    yaml.dump(spec, out)
    return text, out.getvalue()


def command_cards(root: Path = REPO) -> dict[str, dict]:
    """Card file name -> card (the command, its dataset where it has one, and the SHA-256 of every
    code file it runs) for every command, and for every dataset of those in :data:`PER_DATASET`:
    read from the source alone, so the code stage needs nothing but the code folders."""
    from benchmark.__main__ import COMMANDS

    cards = {}
    for command in COMMANDS:
        for item in stage_datasets(command) if command in PER_DATASET else [None]:
            files = [root / f for f in code_files(command, item, root)]
            cards[card_name(command, item)] = {"command": command, "dataset": item, "sources": source_hashes(files, root)}
    return cards


def write_cards(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.code_cards`` does with its parsed arguments."""
    from benchmark.core.atomic import atomic_dir, write_json
    from benchmark.core.guards import check_output, has_file

    check_output(args.out, [REPO / p for p in PACKAGES], "code-card folder", has_file("index.json"))
    cards = command_cards()
    with atomic_dir(args.out) as tmp:
        for name, card in cards.items():
            write_json(tmp / name, card)
        write_json(tmp / "index.json", sorted(cards))
    files = len({f for card in cards.values() for f in card["sources"]})
    print(f"code_cards: {len(cards)} command cards over {files} source files -> {args.out}")
    return 0


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
