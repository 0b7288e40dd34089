"""``python -m benchmark.segment``: U-Net on a frozen pre-trained encoder (MGCA protocol).

The decoder is segmentation_models_pytorch's U-Net decoder on the encoder's C2-C5 maps
(the encoder interface; no stride-2 skip); the encoder stays in eval mode without
gradients, so with ``cache_features`` its maps are computed once per image and reused
every epoch. Loss 10 · focal(γ = 2) − log(soft Dice); AdamW; early stopping on the
validation loss with the best weights restored. For the datasets in ``balance_train``
(SIIM in the MGCA protocol) the training set keeps every positive image and as many
negatives. Test metric: mean per-image Dice at 0.5
(:func:`benchmark.evaluation.metrics.dice`) with a bootstrap 95 % interval over test images, plus
BenchX's two-class mDice, named as such. One result JSON per seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from segmentation_models_pytorch.losses import FocalLoss
from torch import nn

from benchmark.core.errors import DataError
from benchmark.core.numerics import dtype
from benchmark.data.store import Store
from benchmark.evaluation.downstream import EVAL_BATCH, HeadRun, MapSource, balanced_train_rows, bootstrap_mean_ci, per_dataset, shuffled
from benchmark.evaluation.head_stage import run_head_stage
from benchmark.evaluation.mask_augment import shift_scale_rotate
from benchmark.evaluation.metrics import dice_per_image, empty_mask_breakdown, mean_dice_fg_bg, segmentation_floors
from benchmark.evaluation.training import epoch_batches, fit_early_stopping, not_converged_mark
from benchmark.reporting.results import write_result

METRIC = "dice"


class UNetHead(nn.Module):
    """U-Net decoder + 1-channel head on C2-C5 maps (strides 4-32); logits at the input size.

    Five ``decoder_channels`` are smp's U-Net: five upsampling blocks, the last at the input's
    full resolution. Four stop at stride 2 and upsample the logits bilinearly to the input size:
    on a CPU the full-resolution block is most of the head's cost (a step at 96 px: 0.64 s with
    five blocks, 0.29 s with four, 0.24 s with five at 48 px), so a CPU profile can afford twice
    the input resolution, which is what thin masks need."""

    def __init__(self, map_channels: tuple[int, ...], decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)) -> None:
        super().__init__()
        if len(decoder_channels) not in (4, 5):
            raise ValueError(f"decoder_channels: 4 or 5 blocks, got {len(decoder_channels)}")
        self.full_resolution = len(decoder_channels) == 5
        # smp's decoder takes [input, stride 2, C2..C5]; the input only sets the output size and
        # our encoder interface has no stride-2 map, so those skips have 0 channels
        encoder_channels = (3, 0, *map_channels) if self.full_resolution else (0, *map_channels)
        self.decoder = UnetDecoder(encoder_channels=encoder_channels, decoder_channels=decoder_channels,
                                   n_blocks=len(decoder_channels))
        self.head = SegmentationHead(decoder_channels[-1], 1, kernel_size=3)

    def forward(self, maps: list[torch.Tensor], size: int) -> torch.Tensor:
        c2 = maps[0]
        b = c2.shape[0]
        stride2 = c2.new_zeros(b, 0, 2 * c2.shape[-2], 2 * c2.shape[-1])
        if self.full_resolution:
            return self.head(self.decoder([c2.new_zeros(b, 0, size, size), stride2, *maps])).squeeze(1)
        logits = self.head(self.decoder([stride2, *maps]))
        return F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False).squeeze(1)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, focal: nn.Module, focal_weight: float = 10.0) -> torch.Tensor:
    """focal_weight · focal(γ = 2) − log(soft Dice), soft Dice over the whole batch with smoothing 1."""
    prob = torch.sigmoid(logits)
    soft_dice = (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    return focal_weight * focal(logits, target) - torch.log(soft_dice)


def masks_at(masks_uint8: np.ndarray, size: int) -> torch.Tensor:
    """(N, S, S) 0/1 store masks -> (N, size, size) float 0/1 (area resize, then threshold 0.5)."""
    m = torch.from_numpy(np.ascontiguousarray(masks_uint8)).to(dtype()).unsqueeze(1)
    if m.shape[-1] != size:
        m = F.interpolate(m, size=(size, size), mode="area")
    return (m.squeeze(1) >= 0.5).to(dtype())


def train_segmentation(head: UNetHead, train: MapSource, train_masks: torch.Tensor, valid: MapSource,
                       valid_masks: torch.Tensor, cfg: dict, batch_size: int, seed: int) -> dict:
    """AdamW on the head only; early stopping on the validation loss; best weights restored."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    focal = FocalLoss(mode="binary", gamma=2.0)
    optim = torch.optim.AdamW(head.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    size = train.size
    augment = str(cfg.get("augment", "none")) == "shift_scale_rotate"

    def train_epoch(epoch: int) -> float:
        head.train()
        total, seen = 0.0, 0
        for idx in epoch_batches(len(train.rows), batch_size, gen, int(cfg.get("min_steps_per_epoch", 0))):
            if augment:  # MGCA's ShiftScaleRotate on image and mask together, then the encoder
                images, target = shift_scale_rotate(train.images(train.rows[idx]), train_masks[idx], gen)
                maps = train.encode(images)
            else:
                maps, target = train.batch(train.rows[idx]), train_masks[idx]
            loss = segmentation_loss(head(maps, size), target, focal)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        return total / max(seen, 1)

    fit = fit_early_stopping(head, train_epoch, lambda: evaluate_loss(head, valid, valid_masks, focal),
                             max_epochs=int(cfg["max_epochs"]), patience=int(cfg["patience"]), where="segmentation head")
    return fit.record()


@torch.no_grad()
def predict(head: UNetHead, source: MapSource, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Probabilities of ``source``'s rows, on the CPU (where the metrics are computed)."""
    head.eval()
    out = [torch.sigmoid(head(source.batch(source.rows[s:s + batch_size]), source.size)).cpu()
           for s in range(0, len(source.rows), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def evaluate_loss(head: UNetHead, source: MapSource, masks: torch.Tensor, focal: nn.Module,
                  batch_size: int = EVAL_BATCH) -> float:
    head.eval()
    logits = torch.cat([head(source.batch(source.rows[s:s + batch_size]), source.size)
                        for s in range(0, len(source.rows), batch_size)])
    return float(segmentation_loss(logits, masks, focal))


def require_masks(store: Store) -> None:
    if store.masks is None:
        raise DataError(store.path, "store has no masks.npy: not a segmentation dataset")


def run_native(run: HeadRun, out: Path) -> None:
    """Every dataset x fraction x seed of ``run`` with the U-Net head (results into ``run.args.out``,
    reported as their place in ``out``)."""
    for data in run.datasets(check=require_masks):
        batch = per_dataset(run.cfg, "batch_size", data.name)
        balanced = None
        if data.name in run.cfg.get("balance_train", []):
            balanced = balanced_train_rows(data.store, data.sources(100)["train"].rows, f"{data.name}-segment-balance")
        for fraction in run.args.fractions:
            sources = data.sources(fraction)
            if balanced is not None:
                train = sources["train"].rows
                sources["train"] = MapSource(data.maps, train[np.isin(train, balanced)], training=True)
            masks = {s: masks_at(data.store.masks[src.rows], data.size) for s, src in sources.items()}
            device = run.frozen.device  # the head trains where the encoder's maps are; the test masks stay on the CPU
            floors = segmentation_floors(masks["test"])
            for seed in run.seeds:
                start = time.perf_counter()
                run.frozen.start_run()  # the encoder's pre-trained BatchNorm statistics (encoder_bn: train moves them)
                torch.manual_seed(seed)  # the head's initial weights are part of the seeded run
                head = UNetHead(run.frozen.encoder.map_channels, tuple(run.cfg["decoder_channels"])).to(device)
                train_masks, valid_masks = masks["train"].to(device), masks["valid"].to(device)
                if run.shuffle_labels:  # the negative control: masks moved to other images
                    train_masks, valid_masks = shuffled(train_masks, seed, "train"), shuffled(valid_masks, seed, "valid")
                fit = train_segmentation(head, sources["train"], train_masks, sources["valid"], valid_masks,
                                         run.cfg, batch, seed)
                prob = predict(head, sources["test"])
                per_image = dice_per_image(prob, masks["test"]).numpy()
                value = float(per_image.mean())
                lo, hi = bootstrap_mean_ci(per_image, seed=seed)
                path = write_result(run.args.out, run.record(
                    data.name, fraction, seed, feature_cache_s=data.encode_s, value=value, ci95=[lo, hi], status="ok",
                    mean_dice_fg_bg=mean_dice_fg_bg(prob, masks["test"]), **floors, labels_shuffled=run.shuffle_labels,
                    n={k: int(len(v.rows)) for k, v in sources.items()},
                    **empty_mask_breakdown(per_image, prob, masks["test"]),
                    **fit, train_balanced=balanced is not None, batch_size=batch,
                    train_augment=str(run.cfg.get("augment", "none")), input_size=data.size,
                    wall_time_s=round(time.perf_counter() - start, 3)))
                print(f"segment {run.args.method} {data.name} {fraction}% seed {seed}: dice {value:.4f} "
                      f"[{lo:.3f}, {hi:.3f}] (floor {floors['floor']:.3f}; epochs {fit['epochs_run']}, best "
                      f"{fit['best_epoch']}{not_converged_mark(fit)}) -> {out / path.name} "
                      f"{run.progress.step()}")


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.segment`` does with its parsed arguments."""
    return run_head_stage(args, "segmentation", "unet", METRIC, run_native)
