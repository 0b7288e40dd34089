"""Batches made beside the model: worker processes compute them while the model trains.

A training or extraction loop names its batches by keys (a step, an (epoch, step) pair) and
gives one function that turns a key into a batch: reading the memory-mapped store, cropping,
augmenting. With ``workers: 0`` the loop calls that function itself; with N workers torch's
``DataLoader`` calls it in N forked processes, ``prefetch`` batches ahead per worker, and hands
the batches back in key order (pinned when they go to a GPU). The function is the same either
way and draws its randomness from the key, never from a process-wide generator, so a run
computes the same numbers with any number of workers (tested bit for bit).

Workers are forked: the store's memory map and the function's state are inherited, not pickled
(a memory map pickled for a spawned worker would be copied whole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch

from benchmark.data.store import available_cores

K = TypeVar("K")
B = TypeVar("B")


def resolve_workers(value: int | str | None) -> int:
    """A profile's ``loader_workers``: a count, or ``auto`` for one per available core but one
    (the training process keeps a core)."""
    if value in (None, 0, "0"):
        return 0
    if value == "auto":
        return max(1, available_cores() - 1)
    return int(value)


class _Calls(torch.utils.data.Dataset):
    """``make(keys[i])`` as a map-style dataset, so that ``DataLoader`` keeps the keys' order."""

    def __init__(self, make: Callable[[Any], Any], keys: Sequence) -> None:
        self.make, self.keys = make, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        return self.make(self.keys[i])


def batches(make: Callable[[K], B], keys: Sequence[K], workers: int = 0, *, pin_memory: bool = False,
            prefetch: int = 4) -> Iterator[B]:
    """``make(key)`` for every key, in order: in this process (``workers`` 0) or computed ahead by
    ``workers`` forked processes (``prefetch`` batches each), pinned if ``pin_memory``."""
    if workers <= 0 or len(keys) == 0:
        for key in keys:
            yield make(key)
        return
    loader = torch.utils.data.DataLoader(_Calls(make, keys), batch_size=None, shuffle=False, num_workers=workers,
                                         pin_memory=pin_memory, prefetch_factor=prefetch,
                                         multiprocessing_context="fork")
    yield from loader
