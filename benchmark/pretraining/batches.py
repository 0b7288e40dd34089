"""The pre-training engine's batches, each a function of (epoch, step) alone.

A batch is this process's share of one global batch of the epoch's shuffled order
(``DistributedSampler``: the same order on every rank, each rank its own slice), read from the
memory-mapped store and cropped (the CPU profiles' square crop, drawn per sample per epoch) or
augmented (a recipe's ``augment`` list, one seed per sample per epoch); a dense target (the store's
masks, for a method supervised on where findings are) gets the very crop of its image. Nothing here reads a
process-wide random state, so :func:`benchmark.data.prefetch.batches` may compute the batches in
worker processes ahead of the model and the run still trains on the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from benchmark.data.transforms import crop_boxes, crop_input, crop_masks
from benchmark.pretraining.augment import augment_batch, build_pipeline, sample_seeds


@dataclass
class PretrainBatches:
    """Batch (epoch, step) of a run over store ``rows`` of ``images`` (N, S, S) uint8."""

    images: np.ndarray
    rows: np.ndarray
    local: int  # images per process per step
    size: int  # the model's input size
    seed: int
    rank: int = 0
    world_size: int = 1
    augment: list | None = None  # a recipe's augment list; None: the square 0.8-1 crop
    masks: np.ndarray | None = None  # (N, S, S) 0/1 dense targets aligned with ``images`` (the plain crop only)
    _epoch: tuple[int, np.ndarray, torch.Tensor | None] | None = field(default=None, init=False, repr=False)
    _pipeline: object = field(default=None, init=False, repr=False)

    def order(self, epoch: int) -> tuple[np.ndarray, torch.Tensor | None]:
        """The epoch's sample order and, for the plain crop, every sample's crop box (kept for the epoch)."""
        if self._epoch is None or self._epoch[0] != epoch:
            n = len(self.rows)
            sampler = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=self.seed)
            sampler.set_epoch(epoch)
            order = np.fromiter(iter(sampler), dtype=np.int64)
            boxes = None if self.augment is not None else crop_boxes(
                n, int(self.images.shape[-1]), torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
            self._epoch = (epoch, order, boxes)
        return self._epoch[1], self._epoch[2]

    def __post_init__(self) -> None:
        if self.masks is not None and self.augment is not None:
            raise ValueError("dense targets follow the plain crop only, not an augment list")

    def __call__(self, key: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        """(model input (local, 3, size, size), the batch's sample indices into ``rows``), and with
        ``masks`` the targets' share of each input pixel (local, 1, size, size), area-resized."""
        epoch, step = key
        order, boxes = self.order(epoch)
        idx = np.sort(order[step * self.local:(step + 1) * self.local])
        batch = torch.from_numpy(np.ascontiguousarray(self.images[self.rows[idx]]))
        if self.augment is None:
            x = crop_input(batch, boxes[idx], self.size)
            if self.masks is not None:
                targets = torch.from_numpy(np.ascontiguousarray(self.masks[self.rows[idx]]))
                return x, torch.from_numpy(idx), crop_masks(targets, boxes[idx], self.size)
        else:
            if self._pipeline is None:
                self._pipeline = build_pipeline(self.augment, self.size)
            x = augment_batch(batch, self._pipeline, sample_seeds(self.seed, epoch, idx), self.size)
        return x, torch.from_numpy(idx)
