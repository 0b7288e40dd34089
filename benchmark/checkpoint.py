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

from benchmark.atomic import atomic_dir
from benchmark.errors import DataError

CHECKPOINT_SCHEMA = 1


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
                "sha256": {name: _sha256(tmp / name) for name in ("weights.safetensors", "state.pt")}}
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_checkpoint_info(folder: Path) -> dict | None:
    """The checkpoint's ``checkpoint.json``, or None when there is no checkpoint."""
    path = folder / "checkpoint.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(path, f"unreadable checkpoint description ({err})") from None


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
    for name, digest in info.get("sha256", {}).items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise DataError(path, "checkpoint file missing or corrupt (SHA-256 mismatch)")
    weights = load_file(str(folder / "weights.safetensors"))
    result = model.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise DataError(folder / "weights.safetensors", f"keys do not match the model: missing {result.missing_keys[:5]}, "
                        f"unexpected {result.unexpected_keys[:5]}")
    raw = torch.load(folder / "state.pt", weights_only=True)
    return TrainState(int(raw["step"]), raw["optimizer"], raw["scheduler"], list(raw["log"]), dict(raw["sums"]),
                      raw["rng"])
