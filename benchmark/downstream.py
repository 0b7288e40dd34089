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
import json
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmark.atomic import atomic_dir, is_hidden
from benchmark.encoders import ENCODER_FILE, ImageEncoder, load_encoder
from benchmark.errors import DataError
from benchmark.features import unavailable_reason
from benchmark.numerics import configure, current
from benchmark.splits import ids_for, read_splits
from benchmark.store import Store, sha256_file
from benchmark.transforms import to_input

SPLITS = ("train", "valid", "test")
#: batch size for inference (validation and test): heads are in eval mode, so it changes no number
EVAL_BATCH = 64


def check_results_folder(out: Path) -> None:
    """Refuse to replace an existing ``out`` that is not a folder of result files: a stage
    replaces its results folder as a whole, so a mistyped ``--out`` (a folder holding other
    things) must not be wiped."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(out, "results folder is a file")
    from benchmark.results import TIMINGS_FILE

    foreign = sorted(p.name for p in out.iterdir()
                     if not is_hidden(p) and not (p.is_file() and (p.suffix == ".json" or p.name == TIMINGS_FILE)))
    if foreign:
        raise DataError(out, f"not a results folder (holds {', '.join(foreign[:3])}); it would be replaced as a whole, "
                        "give a folder of its own")


@contextlib.contextmanager
def results_folder(out: Path) -> Iterator[Path]:
    """A temporary folder to write a stage's results into; it replaces ``out`` when the block ends
    without an error (nothing is renamed on an error or a kill)."""
    check_results_folder(out)
    with atomic_dir(out) as tmp:
        yield tmp


def run_head_stage(argv: list[str] | None, prog: str, description: str, datasets: tuple[str, ...], task: str,
                   head: str, metric: str, run_native: Callable[["HeadRun", Path], None]) -> int:
    """The ``main`` of a frozen-encoder head stage: parse, load the encoder, then run every
    dataset x fraction x seed with the native head (``run_native(run, out)``) or the configured
    OpenMMLab model, all results written into one folder that replaces ``--out`` at the end."""
    run = start_head_run(argv, prog, description, datasets, task, head, metric)
    if run is None:
        return 0
    out = run.args.out
    with results_folder(out) as tmp:
        run.args.out = tmp  # every result of this invocation, renamed into place together
        if run.backend == "openmmlab":
            from benchmark.openmmlab.run import run_openmmlab

            return run_openmmlab(run, task)
        run_native(run, out)
    return 0


def shuffled(targets, seed: int, split: str):
    """The negative control's targets: ``targets`` (rows of an array or tensor, or list items)
    permuted across images, with a generator seeded by the run's seed and the split, so that a
    head trained and selected on them can learn nothing about the test images."""
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    order = rng.permutation(len(targets))
    return targets[order] if isinstance(targets, (np.ndarray, torch.Tensor)) else [targets[i] for i in order]


def split_rows(store: Store, splits_path: Path, fraction: int) -> dict[str, np.ndarray]:
    """Store rows of train (the given fraction), valid and test."""
    splits = read_splits(splits_path)
    return {s: store.rows_for_ids(ids_for(splits, s, fraction)) for s in SPLITS}


@dataclass
class FrozenEncoder:
    """A pre-trained encoder in eval mode with its provenance, for heads that never train it."""

    encoder: ImageEncoder
    meta: dict  # the pre-training meta.json (method, LM, parameters)
    sha256: str

    @classmethod
    def load(cls, folder: Path) -> "FrozenEncoder":
        encoder, _ = load_encoder(folder)
        encoder.eval().requires_grad_(False)
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return cls(encoder, meta, sha256_file(folder / ENCODER_FILE))

    @torch.no_grad()
    def maps(self, images_uint8: np.ndarray, size: int, batch_size: int = 64) -> list[torch.Tensor]:
        """C2-C5 maps of (N, S, S) uint8 images at ``size`` px, computed in batches."""
        parts: list[list[torch.Tensor]] = [[], [], [], []]
        for start in range(0, len(images_uint8), batch_size):
            x = to_input(torch.from_numpy(np.ascontiguousarray(images_uint8[start:start + batch_size])), size)
            for i, m in enumerate(self.encoder(x).maps):
                parts[i].append(m)
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

    def __call__(self, rows: np.ndarray) -> list[torch.Tensor]:
        if self.cached is None:
            return self.frozen.maps(self.images[rows], self.size)
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

    @property
    def size(self) -> int:
        return self.maps.size

    def batch(self, rows: np.ndarray) -> list[torch.Tensor]:
        return self.maps(rows)


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
                       "control": encoder.meta.get("control"),
                       "pretrain_parameters": encoder.meta.get("parameters")})
    return {**record, **fields}


@dataclass
class HeadDataset:
    """One dataset of a head run: store, split manifest, and encoder maps shared by all fractions."""

    name: str
    store: Store
    splits_path: Path
    maps: EncoderMaps
    encode_s: float  # wall time of precomputing the maps (0 when they are computed per batch)
    _rows: dict = field(default_factory=dict, repr=False)

    def sources(self, fraction: int) -> dict[str, MapSource]:
        if fraction not in self._rows:  # the split manifest is read once per fraction
            self._rows[fraction] = split_rows(self.store, self.splits_path, fraction)
        return {s: MapSource(self.maps, r) for s, r in self._rows[fraction].items()}


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

    @property
    def size(self) -> int:
        return int(self.cfg["input_size"])

    def datasets(self, check: Callable[[Store], None] = lambda store: None) -> Iterator[HeadDataset]:
        """Each requested dataset in turn, ``check``-ed before any encoding (its maps are freed
        before the next one is encoded)."""
        for name in self.args.datasets:
            store = Store.open(self.args.stores / name)
            check(store)
            splits_path = self.args.splits / name / f"{self.args.protocol}.csv"
            every_row = np.concatenate(list(split_rows(store, splits_path, 100).values()))
            start = time.perf_counter()
            maps = EncoderMaps(self.frozen, store.images, self.size,
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


def start_head_run(argv: list[str] | None, prog: str, description: str, datasets: tuple[str, ...], task: str,
                   head: str, metric: str) -> HeadRun | None:
    """Parse the arguments every frozen-encoder head takes, read the profile section named after
    the task, and load the encoder. Returns None after recording an "unavailable" result for
    every run when the encoder has no weights."""
    from benchmark.config import add_profile_args, load_profile

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--method", required=True)
    parser.add_argument("--datasets", required=True, nargs="+", choices=datasets)
    parser.add_argument("--fractions", nargs="+", type=int, choices=(1, 10, 100),
                        help="training fractions in %% (default: the profile's)")
    parser.add_argument("--encoder", required=True, type=Path, help="pre-trained model folder (encoder.safetensors)")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores, one per dataset (STORES/<dataset>)")
    parser.add_argument("--splits", required=True, type=Path,
                        help="folder of split manifests (SPLITS/<dataset>/<protocol>.csv)")
    parser.add_argument("--protocol", default="mgca", help="split manifest to use (default: mgca)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile[{"segmentation": "segment", "detection": "detect"}[task]]
    args.fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    backend = cfg.get("backend", "native")
    configure(profile, None if backend == "native" else "float32")  # OpenMMLab's models are float32
    if backend == "openmmlab":  # the head is the configured OpenMMLab model (see benchmark.openmmlab)
        from benchmark.openmmlab.run import head_name

        head = head_name(cfg["openmmlab"]["config"])
    elif backend != "native":
        raise DataError(args.params, f"{task}: unknown backend {backend!r} (have: native, openmmlab)")
    common = {"method": args.method, "task": task, "head": head, "metric": metric, "profile": profile,
              "protocol": args.protocol, "backend": backend}
    seeds = [int(s) for s in cfg["seeds"]]
    if record_if_unavailable(args, common, seeds):
        return None
    return HeadRun(args, profile, cfg, common, seeds, FrozenEncoder.load(args.encoder))


def record_if_unavailable(args, common: dict, seeds: list[int]) -> bool:
    """When the encoder has no weights (e.g. ImageNet offline), write that as the result of every run."""
    reason = unavailable_reason(args.encoder / "meta.json")
    if not reason:
        return False
    with results_folder(args.out) as tmp:
        write_unavailable(tmp, common, args.datasets, args.fractions, seeds, reason)
    return True


def write_unavailable(out: Path, common: dict, datasets: list[str], fractions: list[int], seeds: list[int],
                      reason: str) -> None:
    """One "unavailable" result per dataset x fraction x seed, saying why (no number in its place)."""
    from benchmark.results import write_result

    for dataset in datasets:
        for fraction in fractions:
            for seed in seeds:
                write_result(out, result_record(**common, dataset=dataset, fraction=fraction, seed=seed, value=None,
                                                status="unavailable", reason=reason, lm=None))
    print(f"{common['task']} {common['method']} {', '.join(datasets)}: {reason}")
