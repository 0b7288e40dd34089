"""The pre-training input pipeline's rate, for the CPU bench (figure 7) and the GPU check.

What is timed is the engine's own pipeline (:class:`benchmark.pretraining.batches.PretrainBatches`
through :func:`benchmark.data.prefetch.batches`) with M-FLAG's official augmentations, against the
rate a GPU needs: one that trains at 3,000 images/s, fed by the 16 cores of its machine, needs
>= 190 images/s per core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.data.store import Store
from benchmark.tools.timing import interleaved, synchronised

#: what a current data-centre GPU trains a ResNet-50 at 224 px with mixed precision (A100: ~2,500),
#: and the cores of a one-GPU machine: 3,000 / 16 = 187.5, rounded up to the issue's 190 per core
GPU_IMAGES_PER_S, GPU_MACHINE_CORES, PER_CORE_GOAL = 3000, 16, 190


def mflag_augment() -> list:
    """M-FLAG's official augmentation list, from its recipe."""
    from benchmark.pretraining.method_specs import get_method, recipe_values

    return recipe_values(get_method("mflag"))["augment"]


def bench_input_pipeline(store_path: Path, device: torch.device, *, batch_size: int, input_size: int, workers: int,
                         loader_batches: int, rounds: int, seed: int) -> dict:
    """The pre-training engine's own input pipeline (:class:`benchmark.pretraining.batches.PretrainBatches`
    through :func:`benchmark.data.prefetch.batches`): ``workers`` processes read the memory-mapped
    store and apply M-FLAG's official augmentations, batches pinned on a GPU; one iterator for all
    rounds, so worker start-up is paid once, as in a run."""
    from benchmark.data import prefetch
    from benchmark.data.store import available_cores
    from benchmark.pretraining.batches import PretrainBatches

    workers = workers or available_cores()
    store = Store.open(store_path)
    rows = np.arange(len(store.manifest))
    batch = min(batch_size, len(rows))
    plan = PretrainBatches(store.images, rows, batch, input_size, seed, augment=mflag_augment())
    steps = len(rows) // batch
    keys = [divmod(k, steps) for k in range((rounds + 1) * loader_batches)]  # warm-up round + timed rounds
    batches = prefetch.batches(plan, keys, workers, pin_memory=device.type == "cuda", prefetch=4)

    def deliver() -> None:
        for _ in range(loader_batches):
            x, _ = next(batches)
            x.to(device, non_blocking=True)

    seconds = interleaved({"deliver": synchronised(deliver, device)}, rounds)["deliver"]
    batches.close()
    images_per_s = loader_batches * batch / seconds
    return {"workers": workers, "augment": mflag_augment(), "images_per_s": images_per_s,
            "images_per_s_per_worker": images_per_s / workers, "goal_per_core": PER_CORE_GOAL,
            "goal_basis": f"{GPU_IMAGES_PER_S} images/s on one GPU fed by {GPU_MACHINE_CORES} cores",
            "met": images_per_s / workers >= PER_CORE_GOAL}
