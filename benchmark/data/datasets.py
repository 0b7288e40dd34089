"""Datasets as plug-ins: one registered :class:`DatasetSpec` per dataset.

Everything the pipeline needs to know about a dataset is in its spec: the reader of its raw
layout, the label file its splits are made from, the phantom writer of the offline copy,
its title in the tables and which evaluations use it (the probe's target; segmentation and
detection heads). The readers, phantom writers and label-table registries, the probe's
targets, the stages' ``--datasets`` choices, the report's columns and the datasets DVC's
stages loop over (``python -m benchmark.stage_deps``) all follow from :data:`DATASETS`.

Adding a dataset in this tree touches four files: its reader module, its phantom writer
module, one :class:`DatasetSpec` below, and its split rules in
``benchmark/configs/protocols.yaml``; then ``python -m benchmark.stage_deps`` rewrites the dataset
lists of ``dvc.yaml`` (a test fails until it has), and the splits stage writes a manifest for
every (dataset, protocol) pair with a rule. Another installed package adds one without editing this
tree: an entry point in the group :data:`ENTRY_POINT_GROUP` naming a ``DatasetSpec``
(``"package.module:SPEC"``), whose ``protocols`` field carries its split rules.

Light on purpose (no pandas, torch): every command's ``--help`` builds its choices from here;
references to code are ``"package.module:attribute"`` strings, imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchmark.core.errors import DataError
from benchmark.core.registry import LazyRegistry, resolve

if TYPE_CHECKING:  # the base class imports pandas; listing the datasets (a --help) must not
    from benchmark.data.readers.base import Reader

#: entry-point group through which another installed package adds datasets ("module:SPEC")
ENTRY_POINT_GROUP = "medvlp_bench.datasets"
#: the evaluations a dataset can serve, in table order
TASKS = ("classification", "segmentation", "detection")


@dataclass(frozen=True)
class ProbeSpec:
    """What the linear probe predicts: label columns of the store manifest (a tuple, or a
    ``"module:attribute"`` naming one), read as ``binary`` / ``multilabel`` (one output per
    column) or ``multiclass`` (one integer column with ``classes`` values), scored by
    ``auroc`` or ``accuracy``."""

    columns: tuple[str, ...] | str
    kind: str
    metric: str
    classes: int = 1

    def resolved_columns(self) -> tuple[str, ...]:
        return tuple(resolve(self.columns)) if isinstance(self.columns, str) else tuple(self.columns)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset. ``reader``, ``phantom`` and ``label_table`` name code (``"module:attribute"``);
    ``label_file`` is a glob inside the dataset root (the file the splits are made from) and
    ``split_deps`` every file of the root the splits read (``dvc.yaml``'s deps of the splits stage);
    ``public_label_file`` is torchxrayvision's copy of that real file, from which the committed
    manifests under ``splits/`` are published; ``column_order`` places its columns within each
    table (the paper's order); ``protocols`` gives split rules for protocols of
    ``protocols.yaml`` that have none for it (a plug-in dataset's rules)."""

    name: str
    title: str
    reader: str
    phantom: str | None = None
    label_file: str | None = None
    label_table: str | None = None
    split_deps: tuple[str, ...] = ()
    public_label_file: str | None = None
    probe: ProbeSpec | None = None
    heads: tuple[str, ...] = ()  # "segmentation", "detection"
    column_order: int = 100
    protocols: dict[str, dict] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        return (("classification",) if self.probe else ()) + tuple(t for t in TASKS[1:] if t in self.heads)

    def __post_init__(self) -> None:
        unknown = set(self.heads) - set(TASKS[1:])
        if unknown:
            raise ValueError(f"dataset {self.name!r}: unknown head task(s) {sorted(unknown)} (have: {', '.join(TASKS[1:])})")


class _Registry(Mapping[str, DatasetSpec]):
    """Name -> spec, in registration order; installed packages' entry points are read on first use."""

    def __init__(self, specs: list[DatasetSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._installed_read = False

    def _read_installed(self) -> None:
        if self._installed_read:
            return
        self._installed_read = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            self.register(entry.load())

    def __getitem__(self, name: str) -> DatasetSpec:
        self._read_installed()
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self._read_installed()
        return iter(list(self._specs))

    def __len__(self) -> int:
        self._read_installed()
        return len(self._specs)

    def register(self, spec: DatasetSpec) -> DatasetSpec:
        """Add ``spec`` (or replace the one of the same name: a test's toy dataset, a fork's reader)."""
        if not isinstance(spec, DatasetSpec):
            raise TypeError(f"a dataset plug-in must be a DatasetSpec, got {type(spec).__name__}")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)


#: every dataset the harness knows, in registration order
DATASETS = _Registry([
    DatasetSpec("mimic", "MIMIC-CXR", "benchmark.data.readers.mimic:MimicCxrJpgReader",
                phantom="benchmark.data.phantom.mimic:write_mimic"),  # image-report pairs for pre-training only
    DatasetSpec("chexpert", "CheXpert", "benchmark.data.readers.chexpert:CheXpertReader",
                phantom="benchmark.data.phantom.chexpert:write_chexpert", label_file="train.csv",
                label_table="benchmark.data.readers.chexpert:chexpert_label_table", split_deps=("train.csv", "valid.csv"),
                public_label_file="chexpert_train.csv.gz", column_order=0,
                probe=ProbeSpec("benchmark.data.readers.chexpert:COMPETITION_LABELS", "multilabel", "auroc")),
    DatasetSpec("rsna", "RSNA", "benchmark.data.readers.rsna:RsnaPneumoniaReader",
                phantom="benchmark.data.phantom.rsna:write_rsna", label_file="stage_2_train_labels.csv",
                label_table="benchmark.data.readers.rsna:rsna_label_table", split_deps=("stage_2_train_labels.csv",),
                public_label_file="kaggle_stage_2_train_labels.csv.zip", column_order=20,
                probe=ProbeSpec(("target",), "binary", "auroc"), heads=("segmentation", "detection")),
    DatasetSpec("covidx", "COVIDx", "benchmark.data.readers.covidx:CovidxReader",
                phantom="benchmark.data.phantom.covidx:write_covidx", label_file="train*.txt",
                label_table="benchmark.data.readers.covidx:covidx_label_table", column_order=30,
                split_deps=("train_COVIDx9A.txt", "test_COVIDx9A.txt"),
                probe=ProbeSpec(("target",), "multiclass", "accuracy", classes=3)),  # normal 0, pneumonia 1, COVID-19 2
    DatasetSpec("siim", "SIIM", "benchmark.data.readers.siim:SiimPneumothoraxReader",
                phantom="benchmark.data.phantom.siim:write_siim", label_file="train-rle.csv",
                label_table="benchmark.data.readers.siim:siim_label_table", split_deps=("train-rle.csv",),
                public_label_file="siim-pneumothorax-train-rle.csv.gz", column_order=10, heads=("segmentation",)),
    DatasetSpec("object_cxr", "Object-CXR", "benchmark.data.readers.object_cxr:ObjectCxrReader",
                phantom="benchmark.data.phantom.object_cxr:write_object_cxr", label_file="train.csv",
                label_table="benchmark.data.readers.object_cxr:object_cxr_label_table", column_order=40,
                split_deps=("train.csv", "dev.csv"),
                heads=("detection",)),
    DatasetSpec("nih", "NIH ChestX-ray14", "benchmark.data.readers.nih:NihChestXray14Reader",
                phantom="benchmark.data.phantom.nih:write_nih", label_file="Data_Entry_2017*.csv*",
                label_table="benchmark.data.readers.nih:nih_label_table", public_label_file="Data_Entry_2017_v2020.csv.gz",
                split_deps=("Data_Entry_2017_v2020.csv", "train_val_list.txt", "test_list.txt")),
])


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset (from a test, a notebook, or another package's import)."""
    return DATASETS.register(spec)


def datasets_for(task: str) -> tuple[str, ...]:
    """Datasets an evaluation uses, in table column order."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (have: {', '.join(TASKS)})")
    names = [name for name, spec in DATASETS.items() if task in spec.tasks]
    position = {name: i for i, name in enumerate(DATASETS)}
    return tuple(sorted(names, key=lambda n: (DATASETS[n].column_order, position[n])))


def _code_field(attribute: str) -> dict[str, str]:
    """Dataset -> one of its code references (``reader``, ``phantom``, ``label_table``), where set."""
    return {name: getattr(spec, attribute) for name, spec in DATASETS.items() if getattr(spec, attribute)}


#: views of the specs: dataset -> its reader class, phantom writer, label-table function; each
#: imported on first use, so a stage imports only the reader (writer) it runs
READERS = LazyRegistry(lambda: _code_field("reader"))
WRITERS = LazyRegistry(lambda: _code_field("phantom"))
LABEL_TABLES = LazyRegistry(lambda: _code_field("label_table"))


def get_reader(name: str, options: dict | None = None) -> Reader:
    """The reader of dataset ``name`` with the profile's ``store.reader_options.<name>``."""
    if name not in READERS:
        raise DataError(None, f"unknown dataset {name!r} (have: {', '.join(READERS)})")
    return READERS[name](**(options or {}))
