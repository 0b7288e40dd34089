"""Trainable-parameter arithmetic of the paper configuration, checked by hand."""

import pytest

from benchmark.pretraining.parameter_counts import method_counts, paper_configuration


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


def test_method_counts_follow_from_the_modules():
    counts = method_counts()
    bert = 109_482_240
    pooler = 768 * 768 + 768  # a trainable text encoder uses the hidden states, not BERT's pooler
    embeddings = 30522 * 768 + 512 * 768 + 2 * 768 + 2 * 768  # word, position, token type, LayerNorm
    layer = 4 * (768 * 768 + 768) + 2 * 768 + (768 * 3072 + 3072) + (3072 * 768 + 768) + 2 * 768
    assert counts["mflag"] == {"trainable": 33_483_840, "frozen": bert}
    assert counts["mflag-no-ortho"] == counts["mflag"]
    assert counts["mflag-lm-unfrozen"] == {"trainable": 33_483_840 + bert - pooler, "frozen": 0}
    assert counts["mflag-lm-half-frozen"] == {"trainable": 33_483_840 + 6 * layer, "frozen": embeddings + 6 * layer}
    assert counts["random"] == {"trainable": 0, "frozen": 23_508_032}
    # ConVIRT: ResNet-50 + BERT without pooler + two 2048-hidden heads to 128
    head = lambda d: d * 2048 + 2048 + 2 * 2048 + 2048 * 128 + 128  # noqa: E731
    assert counts["convirt"] == {"trainable": 23_508_032 + bert - pooler + head(2048) + head(768), "frozen": 0}
