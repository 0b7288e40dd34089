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

from benchmark.core.errors import run_cli
from benchmark.evaluation.stage_args import SEGMENT_DATASETS, head_parser


def build_parser() -> argparse.ArgumentParser:
    return head_parser("python -m benchmark.segment", __doc__.splitlines()[0], SEGMENT_DATASETS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.segment import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
