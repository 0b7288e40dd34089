"""Resumable training state: weights as safetensors plus a small state file, checked on load.

A checkpoint folder holds ``weights.safetensors`` (every tensor of the method's
state dict), ``state.pt`` (optimizer, scheduler, step, epoch log, RNG state; read with
``torch.load(weights_only=True)``) and ``checkpoint.json`` (schema version, step, the run
fingerprint, and the SHA-256 of both files). It is written to a temporary folder and
renamed, so a run killed while saving leaves the previous checkpoint intact; a file
that is truncated, edited, or from another run configuration is rejected with a clear
error instead of being half-loaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from benchmark.core.atomic import atomic_dir
from benchmark.core.errors import DataError, read_json_object

CHECKPOINT_SCHEMA = 1
CHECKPOINT_FILES = ("weights.safetensors", "state.pt")


def fingerprint(config: dict) -> str:
    """Stable hash of everything that must match for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TrainState:
    step: int
    optimizer: dict
    scheduler: dict
    log: list[dict]  # one row per finished epoch
    sums: dict[str, float]  # running sums of the loss terms in the current epoch
    rng: torch.Tensor


def save_checkpoint(folder: Path, model: nn.Module, state: TrainState, run_fingerprint: str) -> None:
    with atomic_dir(folder) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp / "weights.safetensors"))
        torch.save({"step": state.step, "optimizer": state.optimizer, "scheduler": state.scheduler,
                    "log": state.log, "sums": state.sums, "rng": state.rng}, tmp / "state.pt")
        info = {"schema": CHECKPOINT_SCHEMA, "step": state.step, "fingerprint": run_fingerprint,
                "sha256": {name: _sha256(tmp / name) for name in CHECKPOINT_FILES}}
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_checkpoint_info(folder: Path) -> dict | None:
    """The checkpoint's ``checkpoint.json``, or None when there is no checkpoint."""
    path = folder / "checkpoint.json"
    if not path.is_file():
        return None
    return read_json_object(path, "checkpoint description")


def check_fits(path: Path, model: nn.Module, weights: dict[str, torch.Tensor], what: str = "the model") -> None:
    """DataError naming ``path`` unless ``weights`` has exactly the model's keys and shapes."""
    wanted = model.state_dict()
    missing, unexpected = sorted(set(wanted) - set(weights)), sorted(set(weights) - set(wanted))
    if missing or unexpected:
        raise DataError(path, f"keys do not match {what}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    shapes = [k for k in wanted if tuple(wanted[k].shape) != tuple(weights[k].shape)]
    if shapes:
        raise DataError(path, f"shapes do not match {what} at {', '.join(shapes[:5])}")


def load_checkpoint(folder: Path, model: nn.Module, run_fingerprint: str) -> TrainState:
    """Verify and load a checkpoint into ``model``; returns the rest of the training state."""
    info = read_checkpoint_info(folder)
    if info is None:
        raise DataError(folder, "no checkpoint.json")
    if info.get("schema") != CHECKPOINT_SCHEMA:
        raise DataError(folder / "checkpoint.json", f"checkpoint schema {info.get('schema')!r}, expected {CHECKPOINT_SCHEMA}")
    if info.get("fingerprint") != run_fingerprint:
        raise DataError(folder / "checkpoint.json", "checkpoint is from a different run configuration "
                        "(method, profile, data or world size changed); delete the folder to start over")
    digests = info.get("sha256")
    for name in CHECKPOINT_FILES:  # every file, so that a description listing fewer checks nothing less
        path = folder / name
        if not isinstance(digests, dict) or name not in digests:
            raise DataError(folder / "checkpoint.json", f"records no SHA-256 for {name}")
        if not path.is_file() or _sha256(path) != digests[name]:
            raise DataError(path, "checkpoint file missing or corrupt (SHA-256 mismatch)")
    weights = load_file(str(folder / "weights.safetensors"))
    raw = torch.load(folder / "state.pt", weights_only=True)
    check_fits(folder / "weights.safetensors", model, weights)  # before anything is copied into the model
    model.load_state_dict(weights, strict=True)
    return TrainState(int(raw["step"]), raw["optimizer"], raw["scheduler"], list(raw["log"]), dict(raw["sums"]),
                      raw["rng"])
