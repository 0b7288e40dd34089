"""Render phantom images on several processes; each image's RNG depends only on its index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tqdm import tqdm


def parallel_map(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, desc: str) -> list[Any]:
    """``[fn(t) for t in tasks]`` in order, on ``workers`` processes (1 = in this process)."""
    if workers <= 1 or len(tasks) < 64:
        return [fn(t) for t in tqdm(tasks, desc=desc, leave=False)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunk = max(1, len(tasks) // (workers * 16))
        return list(tqdm(pool.map(fn, tasks, chunksize=chunk), total=len(tasks), desc=desc, leave=False))
