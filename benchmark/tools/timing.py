"""Timing two or more variants of the same work so that the machine's speed and load cancel out."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def interleaved(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each variant over ``rounds`` rounds, variants taking turns within a
    round (one untimed warm-up round first)."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def synchronised(fn: Callable[[], object], device: "torch.device") -> Callable[[], None]:
    """``fn`` followed by a device synchronisation, so a timer sees the work and not its launch."""
    def run() -> None:
        fn()
        if device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)
    return run
