"""``python -m benchmark.detect``: YOLOv3 head on a frozen pre-trained encoder (MGCA protocol).

Three scales on the encoder's C3, C4, C5 maps (strides 8, 16, 32) joined top-down as in
YOLOv3; three anchors per scale, the COCO YOLOv3 anchors scaled by input size / 416
(224/416 in the paper profile). Loss weights: xy 2.5, wh 2.5, confidence 1, class 1
(each summed over its cells and divided by the batch size); predictions whose box
overlaps a ground-truth box with IoU > 0.5 are not pushed towards "no object".
Inference: confidence threshold 0.5, then NMS at IoU 0.5 (torchvision.ops). AdamW,
model selection on validation mAP with patience (scored with a matching computed once
per epoch, :class:`benchmark.evaluation.metrics.DetectionMatches`). Test metric: mAP over IoU
0.40:0.05:0.75 on all test images, and the ``mgca_compat`` variant that skips images
without a prediction or without a box (:func:`benchmark.evaluation.metrics.detection_map`).
"""

from __future__ import annotations

import argparse

from benchmark.core.errors import run_cli
from benchmark.evaluation.stage_args import DETECT_DATASETS, head_parser


def build_parser() -> argparse.ArgumentParser:
    return head_parser("python -m benchmark.detect", __doc__.splitlines()[0], DETECT_DATASETS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.detect import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
