"""What every downstream task shares: split rows per fraction, the frozen encoder, the result record.

Linear probe, segmentation and detection all evaluate a frozen pre-trained encoder on
store rows chosen by a split manifest and write one result JSON per seed with the same
fields; this module is the one place for those steps.

Each of those stages owns its ``--out`` folder (a DVC ``outs`` entry) and writes it as a
whole (:func:`results_folder`): every result goes into a hidden temporary sibling that is
renamed into place only when the last run is written. A run killed half-way leaves the
previous complete folder (or none) and a hidden ``.<name>.<pid>.*.tmp`` sibling, which no
reader takes as results and the next run deletes. The folder then holds exactly the runs
of the last invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.core.atomic import atomic_dir, is_hidden
from benchmark.core.errors import DataError, read_json_object
from benchmark.core.guards import check_output
from benchmark.core.numerics import current
from benchmark.data.split_manifest import ids_for, read_splits
from benchmark.data.splits import salted_order
from benchmark.data.store import Store, sha256_file
from benchmark.data.transforms import to_input
from benchmark.evaluation.training import RunProgress
from benchmark.pretraining.encoders import ENCODER_FILE, ImageEncoder, load_encoder

SPLITS = ("train", "valid", "test")
#: batch size for inference (validation and test): heads are in eval mode, so it changes no number
EVAL_BATCH = 64


def is_results_folder(out: Path) -> bool:
    """A folder of result files (JSON and the timings table) and nothing else."""
    from benchmark.reporting.results import TIMINGS_FILE

    return all(is_hidden(p) or (p.is_file() and (p.suffix == ".json" or p.name == TIMINGS_FILE)) for p in out.iterdir())


@contextlib.contextmanager
def results_folder(out: Path, inputs: tuple[Path | None, ...] = ()) -> Iterator[Path]:
    """A temporary folder to write a stage's results into; it replaces ``out`` when the block ends
    without an error (nothing is renamed on an error or a kill). A mistyped ``--out`` (one of the
    inputs, or a folder holding anything but results) is refused before any work."""
    check_output(out, inputs, "results folder", is_results_folder)
    with atomic_dir(out) as tmp:
        yield tmp


def shuffled(targets, seed: int, split: str):
    """The negative control's targets: ``targets`` (rows of an array or tensor, or list items)
    permuted across images, with a generator seeded by the run's seed and the split, so that a
    head trained and selected on them can learn nothing about the test images."""
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    order = rng.permutation(len(targets))
    return targets[order] if isinstance(targets, (np.ndarray, torch.Tensor)) else [targets[i] for i in order]


def balanced_train_rows(store: Store, train_rows: np.ndarray, salt: str) -> np.ndarray:
    """MGCA's SIIM training set: every image with a mask and as many images without, the latter
    chosen by a salted hash of the id, so the choice is the same for every method and seed.
    Fractions are then taken inside it (each fraction's rows that are in this set)."""
    positive = store.masks[train_rows].reshape(len(train_rows), -1).any(1)
    ids = store.manifest["id"].astype(str).to_numpy()
    negatives = salted_order(np.asarray(ids[train_rows[~positive]], dtype=object), salt)[:int(positive.sum())]
    keep = positive | np.isin(ids[train_rows], negatives)
    return train_rows[keep]


def split_rows(store: Store, splits_path: Path, fraction: int) -> dict[str, np.ndarray]:
    """Store rows of train (the given fraction), valid and test, after checking that the manifest
    (checked on read) lists only images of this store and that no image's pixels are in two
    splits under different ids."""
    splits = read_splits(splits_path)
    missing = pd.Index(splits["id"]).difference(pd.Index(store.manifest["id"].astype(str)))
    if len(missing):
        raise DataError(splits_path, f"{len(missing)} ids are not in the store {store.path} (e.g. {missing[0]!r}): "
                        "the manifest belongs to another version of the dataset")
    rows = {s: store.rows_for_ids(ids_for(splits, s, fraction)) for s in SPLITS}
    if "pixel_sha256" in store.manifest:
        content = store.manifest["pixel_sha256"].to_numpy()
        seen: dict[str, tuple[str, int]] = {}
        for split in SPLITS:
            for row in rows[split] if split != "train" else store.rows_for_ids(ids_for(splits, "train", 100)):
                other = seen.setdefault(content[row], (split, row))
                if other[0] != split:
                    ids = store.manifest["id"].astype(str).to_numpy()
                    raise DataError(splits_path, f"{ids[row]} ({split}) has the same pixels as {ids[other[1]]} "
                                    f"({other[0]}): one image in two splits")
    return rows


#: how a frozen encoder's BatchNorm behaves while a head trains: ``eval`` (ours: the pre-trained
#: statistics, so its maps can be cached) or ``train`` (MGCA's code only sets requires_grad=False:
#: training batches are normalised with their own statistics and update the running ones, which
#: validation and test then use; maps are computed per batch and the statistics reset per run)
ENCODER_BN_MODES = ("eval", "train")


@dataclass
class FrozenEncoder:
    """A pre-trained encoder whose weights heads never train, with its provenance."""

    encoder: ImageEncoder
    meta: dict  # the pre-training meta.json (method, LM, parameters)
    sha256: str
    bn_mode: str = "eval"
    _bn_start: dict = field(default_factory=dict, repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where the encoder and heads run

    def __post_init__(self) -> None:
        self.encoder.to(self.device)

    @classmethod
    def load(cls, folder: Path, bn_mode: str = "eval", device: torch.device | None = None) -> "FrozenEncoder":
        if bn_mode not in ENCODER_BN_MODES:
            raise DataError(None, f"encoder_bn {bn_mode!r} is not one of {', '.join(ENCODER_BN_MODES)}")
        encoder, _ = load_encoder(folder)
        encoder.eval().requires_grad_(False)
        encoder.upsample = None  # heads take the plain ResNet's maps (MGCA's U-Net and detector do too)
        meta_path = folder / "meta.json"
        meta = read_json_object(meta_path, "encoder meta.json", "; pre-train or import it again") if meta_path.is_file() else {}
        device = device or torch.device("cpu")
        start = {name: buffer.clone().to(device) for name, buffer in encoder.named_buffers()}
        return cls(encoder, meta, sha256_file(folder / ENCODER_FILE), bn_mode, start, device)

    def start_run(self) -> None:
        """Back to the pre-trained BatchNorm statistics (``train`` mode changes them during a run)."""
        if self.bn_mode == "train":
            self.encoder.load_state_dict(self._bn_start, strict=False)

    @torch.no_grad()
    def maps(self, images_uint8: np.ndarray, size: int, batch_size: int = 64, training: bool = False) -> list[torch.Tensor]:
        """C2-C5 maps of (N, S, S) uint8 images at ``size`` px, computed in batches on the encoder's
        device (where they stay: the heads train there too); ``training`` (a head's training batch)
        puts BatchNorm in batch-statistics mode when ``bn_mode`` is train."""
        self.encoder.train(training and self.bn_mode == "train")
        parts: list[list[torch.Tensor]] = [[], [], [], []]
        try:
            for start in range(0, len(images_uint8), batch_size):
                x = to_input(torch.from_numpy(np.ascontiguousarray(images_uint8[start:start + batch_size])), size)
                for i, m in enumerate(self.encoder(x.to(self.device)).maps):
                    parts[i].append(m)
        finally:
            self.encoder.eval()
        return [torch.cat(p) for p in parts]


class EncoderMaps:
    """C2-C5 maps of a store's images under a frozen encoder, at one input size.

    The encoder never changes during a head run, so with ``precompute`` the maps of those
    rows are computed once and shared by every fraction, split, seed and epoch (small
    profiles); without it each batch is encoded when asked (ResNet-50 maps at 224 px are
    ~6 MB per image)."""

    def __init__(self, frozen: FrozenEncoder, images: np.ndarray, size: int, precompute: np.ndarray | None = None) -> None:
        self.frozen, self.images, self.size = frozen, images, size
        self.cached: list[torch.Tensor] | None = None
        if precompute is not None:
            rows = np.unique(precompute)
            self.cached = frozen.maps(images[rows], size)
            self.position = np.full(len(images), -1, dtype=np.int64)
            self.position[rows] = np.arange(len(rows))

    def encode(self, images_uint8: np.ndarray, training: bool = False) -> list[torch.Tensor]:
        """Maps of these images, computed now in one batch (never from the cache)."""
        return self.frozen.maps(images_uint8, self.size, batch_size=max(len(images_uint8), 1), training=training)

    def __call__(self, rows: np.ndarray, training: bool = False) -> list[torch.Tensor]:
        if self.cached is None:
            return self.encode(self.images[rows], training)
        idx = self.position[rows]
        if (idx < 0).any():
            raise KeyError(f"store rows {rows[idx < 0][:3].tolist()} were not precomputed")
        idx = torch.from_numpy(idx)
        return [m[idx] for m in self.cached]


@dataclass
class MapSource:
    """The store rows of one split with the maps to feed a head."""

    maps: EncoderMaps
    rows: np.ndarray
    training: bool = False  # the training split's batches (the encoder's BatchNorm mode may differ)

    @property
    def size(self) -> int:
        return self.maps.size

    def batch(self, rows: np.ndarray) -> list[torch.Tensor]:
        return self.maps(rows, self.training)

    def images(self, rows: np.ndarray) -> torch.Tensor:
        """The store's uint8 images of ``rows`` (for a head that augments before encoding)."""
        return torch.from_numpy(np.ascontiguousarray(self.maps.images[rows]))

    def encode(self, images_uint8: torch.Tensor) -> list[torch.Tensor]:
        """Maps of images given here (augmented ones), never from the cache."""
        return self.maps.encode(images_uint8.numpy(), self.training)


def bootstrap_mean_ci(values: np.ndarray, n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image scores (Dice, per-image AP, ...)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def result_record(*, method: str, dataset: str, task: str, head: str, fraction: int, seed: int, metric: str,
                  profile: dict, backend: str = "native", protocol: str = "mgca", encoder: FrozenEncoder | None = None,
                  **fields) -> dict:
    """The fields every result JSON carries; ``fields`` add the task's own (value, ci95, n, ...)."""
    record = {"method": method, "dataset": dataset, "task": task, "head": head, "fraction": fraction, "seed": seed,
              "metric": metric, "profile": profile["name"], "data_kind": profile["data_kind"], "backend": backend,
              "protocol": protocol, "precision": current()}
    if encoder is not None:
        record.update({"lm": encoder.meta.get("lm"), "arch": encoder.encoder.arch, "encoder_sha256": encoder.sha256,
                       "encoder_bn": encoder.bn_mode, **({"device": encoder.device.type} if encoder.device.type != "cpu" else {}),
                       "control": encoder.meta.get("control"), "title": encoder.meta.get("title"),
                       "pretrain_parameters": encoder.meta.get("parameters")})
    return {**record, **fields}


def per_dataset(cfg: dict, key: str, dataset: str) -> int:
    """A head setting that is one int for every dataset or a {dataset: int} mapping that must
    name ``dataset`` (``input_size``, ``batch_size``)."""
    value = cfg[key]
    if isinstance(value, dict):
        if dataset not in value:
            raise KeyError(f"{key} names {sorted(value)}, not {dataset!r}")
        return int(value[dataset])
    return int(value)


@dataclass
class HeadDataset:
    """One dataset of a head run: store, split manifest, and encoder maps shared by all fractions."""

    name: str
    store: Store
    splits_path: Path
    maps: EncoderMaps
    encode_s: float  # wall time of precomputing the maps (0 when they are computed per batch)

    @property
    def size(self) -> int:
        return self.maps.size
    _rows: dict = field(default_factory=dict, repr=False)

    def sources(self, fraction: int) -> dict[str, MapSource]:
        if fraction not in self._rows:  # the split manifest is read once per fraction
            self._rows[fraction] = split_rows(self.store, self.splits_path, fraction)
        return {s: MapSource(self.maps, r, s == "train") for s, r in self._rows[fraction].items()}


@dataclass
class HeadRun:
    """A frozen-encoder head (segmentation, detection) over datasets x fractions x seeds, in one
    process: the encoder is loaded and each dataset encoded once, not once per run."""

    args: argparse.Namespace
    profile: dict
    cfg: dict  # the profile's section for this task
    common: dict  # result fields shared by every run
    seeds: list[int]
    frozen: FrozenEncoder

    def __post_init__(self) -> None:
        self.progress = RunProgress(len(self.args.datasets) * len(self.args.fractions) * len(self.seeds))

    def size(self, dataset: str) -> int:
        """The head's input size for ``dataset``: one size for all, or one per dataset (a profile
        may give small objects more pixels where the budget allows)."""
        return per_dataset(self.cfg, "input_size", dataset)

    def datasets(self, check: Callable[[Store], None] = lambda store: None) -> Iterator[HeadDataset]:
        """Each requested dataset in turn, ``check``-ed before any encoding (its maps are freed
        before the next one is encoded)."""
        for name in self.args.datasets:
            store = Store.open(self.args.stores / name)
            check(store)
            splits_path = self.args.splits / name / f"{self.args.protocol}.csv"
            every_row = np.concatenate(list(split_rows(store, splits_path, 100).values()))
            start = time.perf_counter()
            maps = EncoderMaps(self.frozen, store.images, self.size(name),
                               every_row if bool(self.cfg["cache_features"]) else None)
            yield HeadDataset(name, store, splits_path, maps, round(time.perf_counter() - start, 3))

    @property
    def shuffle_labels(self) -> bool:
        """True for the negative control (its encoder's meta.json says so): train on shuffled targets."""
        return bool(self.frozen.meta.get("shuffle_labels"))

    @property
    def backend(self) -> str:
        return self.common["backend"]

    def record(self, dataset: str, fraction: int, seed: int, **fields) -> dict:
        return result_record(**self.common, dataset=dataset, fraction=fraction, seed=seed, encoder=self.frozen, **fields)


def write_unavailable(out: Path, common: dict, datasets: list[str], fractions: list[int], seeds: list[int],
                      reason: str) -> None:
    """One "unavailable" result per dataset x fraction x seed, saying why (no number in its place)."""
    from benchmark.reporting.results import write_result

    for dataset in datasets:
        for fraction in fractions:
            for seed in seeds:
                write_result(out, result_record(**common, dataset=dataset, fraction=fraction, seed=seed, value=None,
                                                status="unavailable", reason=reason, lm=None))
    print(f"{common['task']} {common['method']} {', '.join(datasets)}: {reason}")
