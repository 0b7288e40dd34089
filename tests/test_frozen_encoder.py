"""The frozen encoder under a head: ours keeps BatchNorm in eval mode (maps cacheable); MGCA's
only stops gradients, so training batches use and update BatchNorm statistics (encoder_bn: train)."""

import numpy as np
import pytest
import torch

from benchmark.core.profile_schema import HeadSection
from benchmark.evaluation.downstream import EncoderMaps, FrozenEncoder, MapSource, per_dataset
from benchmark.pretraining.encoders import ImageEncoder


def _frozen(mode: str) -> FrozenEncoder:
    torch.manual_seed(0)
    encoder = ImageEncoder("resnet18").eval().requires_grad_(False)
    return FrozenEncoder(encoder, {}, "sha", mode, {n: b.clone() for n, b in encoder.named_buffers()})


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64), dtype=np.uint8)


def test_train_mode_uses_batch_statistics_updates_them_and_resets_per_run():
    frozen = _frozen("train")
    bn = frozen.encoder.stem[1] if hasattr(frozen.encoder, "stem") else next(m for m in frozen.encoder.modules()
                                                                              if isinstance(m, torch.nn.BatchNorm2d))
    start_mean = bn.running_mean.clone()
    maps = EncoderMaps(frozen, _images(), 32)
    rows = np.arange(6)
    train_source, valid_source = MapSource(maps, rows, training=True), MapSource(maps, rows)
    eval_before = valid_source.batch(rows)[3]
    trained = train_source.batch(rows)[3]
    assert not torch.allclose(trained, eval_before)  # batch statistics, not the running ones
    assert not torch.equal(bn.running_mean, start_mean)  # and the running ones moved (momentum 0.1)
    assert not frozen.encoder.training  # back in eval mode after the batch
    eval_after = valid_source.batch(rows)[3]
    assert not torch.allclose(eval_after, eval_before)  # validation sees the moved statistics, as in MGCA
    frozen.start_run()
    assert torch.equal(bn.running_mean, start_mean)
    assert torch.equal(valid_source.batch(rows)[3], eval_before)
    assert all(not p.requires_grad for p in frozen.encoder.parameters())


def test_eval_mode_maps_do_not_depend_on_the_split():
    frozen = _frozen("eval")
    maps = EncoderMaps(frozen, _images(), 32)
    rows = np.arange(6)
    a = MapSource(maps, rows, training=True).batch(rows)
    b = MapSource(maps, rows).batch(rows)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_train_mode_cannot_be_cached():
    base = {"seeds": [0], "fractions": [1], "lr": 1e-3, "weight_decay": 0.0, "max_epochs": 1, "patience": 1, "input_size": 32}
    with pytest.raises(Exception, match="set cache_features false"):
        HeadSection.model_validate({**base, "encoder_bn": "train", "cache_features": True})
    assert HeadSection.model_validate({**base, "encoder_bn": "train", "cache_features": False}).encoder_bn == "train"


def test_input_size_is_one_for_all_datasets_or_one_per_dataset():
    base = {"seeds": [0], "fractions": [1], "lr": 1e-3, "weight_decay": 0.0, "max_epochs": 1, "patience": 1}
    per = HeadSection.model_validate({**base, "input_size": {"rsna": 96, "object_cxr": 128}}).model_dump()
    assert per_dataset(per, "input_size", "object_cxr") == 128 and per_dataset(per, "input_size", "rsna") == 96
    assert per_dataset(HeadSection.model_validate({**base, "input_size": 64}).model_dump(), "input_size", "rsna") == 64
    with pytest.raises(KeyError, match="not 'siim'"):
        per_dataset(per, "input_size", "siim")
    with pytest.raises(Exception, match="multiple of 32"):  # the encoder's stride-32 maps
        HeadSection.model_validate({**base, "input_size": {"rsna": 80}})
