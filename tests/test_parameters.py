"""Trainable-parameter arithmetic of the paper configuration, checked by hand."""

import pytest

from benchmark.parameters import paper_configuration


def test_paper_configuration_counts():
    c = paper_configuration()
    # Linear(2048, 2048) + BN(2048) + Linear(2048, 1024) + BN(1024, affine=False)
    assert c["proj_v"] == 2048 * 2048 + 2048 + 2 * 2048 + 2048 * 1024 + 1024 == 6_298_624
    assert c["proj_t"] == 768 * 2048 + 2048 + 2 * 2048 + 2048 * 1024 + 1024 == 3_677_184
    assert c["resnet50_trunk"] == 23_508_032  # torchvision ResNet-50 without its fc layer
    assert c["bert_base"] == 109_482_240
    assert c["mflag"]["trainable"] == 33_483_840 and c["mflag"]["frozen"] == c["bert_base"]
    assert c["reduction"] == pytest.approx(1 - 33_483_840 / 142_966_080)
    assert 0.76 < c["reduction"] < 0.77
