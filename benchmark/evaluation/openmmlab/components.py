"""What the OpenMMLab configs name: backbone, store datasets, loading transforms, metrics.

Importing this module registers each class in both the MMSeg and the MMDet registries
(configs say ``custom_imports = dict(imports=['benchmark.evaluation.openmmlab.components'])``).

- :class:`MedVLPEncoder`: any method's checkpoint folder through the project's encoder
  interface (C2-C5 maps), with ``frozen_stages`` / ``norm_eval`` as in mmdet's ResNet.
- :class:`StoreSegDataset`, :class:`StoreDetDataset`: the rows of one split of a split
  manifest, at one training fraction, read from the preprocessed store (no second copy
  of the images); :class:`LoadStoreImage` / :class:`LoadStoreMask` fetch pixels by row.
- :class:`StoreDiceMetric`, :class:`StoreDetectionMetric`: the native heads' metrics
  (:mod:`benchmark.evaluation.metrics`), so both backends are scored by one piece of code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.datasets.base_det_dataset import BaseDetDataset
from mmdet.registry import DATASETS as DET_DATASETS
from mmdet.registry import METRICS as DET_METRICS
from mmdet.registry import MODELS as DET_MODELS
from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModule
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS as SEG_DATASETS
from mmseg.registry import METRICS as SEG_METRICS
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS
from torch import nn

from benchmark.core.errors import DataError
from benchmark.data.store import Store
from benchmark.evaluation.downstream import balanced_train_rows, bootstrap_mean_ci, split_rows
from benchmark.evaluation.features import unavailable_reason
from benchmark.evaluation.metrics import dice_per_image, empty_mask_breakdown, mean_dice_fg_bg, score_detections, segmentation_floors
from benchmark.pretraining.encoders import load_encoder


def _register(*registries):
    def add(cls):
        for registry in registries:
            registry.register_module(module=cls, force=True)
        return cls
    return add


class MedVLPEncoder(BaseModule):
    """A pre-trained encoder of this project as an OpenMMLab backbone.

    ``checkpoint`` is a model folder (``encoder.safetensors`` + ``meta.json``) of any
    method; ``out_indices`` picks from (C2, C3, C4, C5). ``frozen_stages``: -1 trains
    everything, 0 freezes the stem, k freezes the stem and stages 1..k (4: frozen
    encoder, the MGCA protocol). ``norm_eval`` keeps BatchNorm statistics fixed.
    The weights come from the checkpoint, so ``init_weights`` leaves them alone."""

    def __init__(self, checkpoint: str, out_indices: tuple[int, ...] = (0, 1, 2, 3), frozen_stages: int = 4,
                 norm_eval: bool = True, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        folder = Path(checkpoint)
        reason = unavailable_reason(folder / "meta.json")
        if reason:
            raise DataError(folder, f"no encoder weights: {reason}")
        self.encoder, self.meta = load_encoder(folder)
        if not set(out_indices) <= {0, 1, 2, 3}:
            raise ValueError(f"out_indices {out_indices} outside 0..3 (C2..C5)")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages {frozen_stages} outside -1..4")
        self.out_indices, self.frozen_stages, self.norm_eval = tuple(out_indices), frozen_stages, norm_eval
        self.channels = tuple(self.encoder.map_channels[i] for i in self.out_indices)
        self._freeze()

    def _stages(self) -> list[nn.Module]:
        e = self.encoder
        return [e.stem, e.layer1, e.layer2, e.layer3, e.layer4]

    def _freeze(self) -> None:
        for stage in self._stages()[:self.frozen_stages + 1]:
            stage.eval()
            stage.requires_grad_(False)

    def init_weights(self) -> None:
        self._is_init = True  # pre-trained: nothing to initialise

    def train(self, mode: bool = True) -> "MedVLPEncoder":
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.encoder(x).maps
        return tuple(maps[i] for i in self.out_indices)


_register(SEG_MODELS, DET_MODELS)(MedVLPEncoder)


@lru_cache(maxsize=16)
def open_store(path: str) -> Store:
    """Stores are memory-mapped; one open per path and process."""
    return Store.open(path)


def store_split_rows(store: str, splits: str, split: str, fraction: int, balance: bool) -> tuple[Store, np.ndarray]:
    """Rows of ``split`` at ``fraction`` %; with ``balance`` (MGCA's SIIM training set) only
    the positives and as many negatives, the rule of the native U-Net."""
    opened = open_store(str(store))
    rows = split_rows(opened, Path(splits), 100 if split != "train" else int(fraction))[split]
    if balance:

        every = split_rows(opened, Path(splits), 100)["train"]
        rows = rows[np.isin(rows, balanced_train_rows(opened, every, f"{opened.info['dataset']}-segment-balance"))]
    return opened, rows


@_register(SEG_DATASETS)
class StoreSegDataset(BaseSegDataset):
    """One split of a segmentation store (masks.npy) for MMSeg: classes background / foreground."""

    METAINFO = dict(classes=("background", "foreground"), palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self, store: str, splits: str, split: str, fraction: int = 100, balance: bool = False, **kwargs) -> None:
        self.store_path, self.splits_path, self.split = str(store), str(splits), split
        self.fraction, self.balance = int(fraction), bool(balance)
        super().__init__(ann_file="", **kwargs)

    def load_data_list(self) -> list[dict]:
        store, rows = store_split_rows(self.store_path, self.splits_path, self.split, self.fraction, self.balance)
        if store.masks is None:
            raise DataError(store.path, "store has no masks.npy: not a segmentation dataset")
        ids = store.manifest["id"].astype(str).to_numpy()
        return [dict(img_path=f"{store.path}#{ids[r]}", seg_map_path=None, store=self.store_path, row=int(r),
                     label_map=self.label_map, reduce_zero_label=False, seg_fields=[]) for r in rows]


@_register(DET_DATASETS)
class StoreDetDataset(BaseDetDataset):
    """One split of a detection store (``boxes`` column, store pixels) for MMDet: one class."""

    METAINFO = dict(classes=("finding",), palette=[(220, 20, 60)])

    def __init__(self, store: str, splits: str, split: str, fraction: int = 100, **kwargs) -> None:
        self.store_path, self.splits_path, self.split, self.fraction = str(store), str(splits), split, int(fraction)
        super().__init__(ann_file="", **kwargs)

    def load_data_list(self) -> list[dict]:
        import json

        store, rows = store_split_rows(self.store_path, self.splits_path, self.split, self.fraction, False)
        if "boxes" not in store.manifest:
            raise DataError(store.path / "manifest.csv", "no 'boxes' column: not a detection dataset")
        ids, boxes = store.manifest["id"].astype(str).to_numpy(), store.manifest["boxes"].to_numpy()
        size = store.images.shape[-1]
        return [dict(img_id=ids[r], img_path=f"{store.path}#{ids[r]}", store=self.store_path, row=int(r),
                     height=size, width=size,
                     instances=[dict(bbox=[float(v) for v in b], bbox_label=0, ignore_flag=0)
                                for b in json.loads(boxes[r] or "[]")]) for r in rows]


@_register(SEG_TRANSFORMS, DET_TRANSFORMS)
class LoadStoreImage(BaseTransform):
    """``img`` (H, W, 3) uint8 from the store row (grey copied to three channels)."""

    def transform(self, results: dict) -> dict:
        grey = np.asarray(open_store(results["store"]).images[results["row"]])
        results["img"] = np.repeat(grey[:, :, None], 3, axis=2)
        results["img_shape"] = results["ori_shape"] = grey.shape
        return results


@_register(SEG_TRANSFORMS)
class LoadStoreMask(BaseTransform):
    """``gt_seg_map`` (H, W) 0/1 from the store's masks (before Resize in training, after it
    in testing, so that test predictions are scored at the store resolution)."""

    def transform(self, results: dict) -> dict:
        results["gt_seg_map"] = np.array(open_store(results["store"]).masks[results["row"]], dtype=np.uint8)
        results.setdefault("seg_fields", []).append("gt_seg_map")
        return results


@_register(SEG_METRICS)
class StoreDiceMetric(BaseMetric):
    """Mean per-image Dice (the native head's test metric) and BenchX's mDice over
    foreground and background; ``details`` keeps the interval (``bootstrap`` resamples;
    0: none, as for validation) and the breakdown."""

    def __init__(self, bootstrap: int = 1000, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bootstrap, self.seed, self.details = bootstrap, seed, {}

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            self.results.append((sample["pred_sem_seg"]["data"].squeeze(0).cpu().to(torch.uint8),
                                 sample["gt_sem_seg"]["data"].squeeze(0).cpu().to(torch.uint8)))

    def compute_metrics(self, results: list) -> dict:

        pred = torch.stack([p for p, _ in results]).float()
        true = torch.stack([t for _, t in results]).float()
        per_image = dice_per_image(pred, true).numpy()
        value = float(per_image.mean())
        self.details = {"value": value, "ci95": list(bootstrap_mean_ci(per_image, self.bootstrap, self.seed)) if self.bootstrap else None,
                        "mean_dice_fg_bg": mean_dice_fg_bg(pred, true), "eval_size": list(true.shape[1:]),
                        **empty_mask_breakdown(per_image, pred, true), **segmentation_floors(true)}
        return {"dice": value, "mean_dice_fg_bg": self.details["mean_dice_fg_bg"]}


@_register(DET_METRICS)
class StoreDetectionMetric(BaseMetric):
    """mAP over IoU 0.40:0.05:0.75 on all test images (the native head's metric, through
    :class:`benchmark.evaluation.metrics.DetectionMatches`) and the ``mgca_compat`` variant."""

    def __init__(self, bootstrap: int = 1000, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bootstrap, self.seed, self.details = bootstrap, seed, {}

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred, gt = sample["pred_instances"], sample["gt_instances"]["bboxes"]
            self.results.append(({"boxes": pred["bboxes"].cpu().float(), "scores": pred["scores"].cpu().float()},
                                 {"boxes": getattr(gt, "tensor", gt).cpu().float().reshape(-1, 4)}))

    def compute_metrics(self, results: list) -> dict:
        preds, targets = [p for p, _ in results], [t for _, t in results]
        self.details = score_detections(preds, targets, self.bootstrap, self.seed)
        if not self.bootstrap:
            self.details["ci95"] = None
        return {"map": self.details["value"], "map_mgca_compat": self.details["map_mgca_compat"]}
