"""The trainable LM: frozen prefix cached == run every step; what trains and what does not."""

import pytest
import torch

from benchmark.pretraining.text import load_lm, resolve_lm
from benchmark.pretraining.text_encoder import ReportTokens, TrainableTextEncoder

REPORTS = ["No acute cardiopulmonary process.", "Right lower lobe pneumothorax, small.",
           "Cardiomegaly with mild pulmonary edema and bilateral effusions.", "Normal.", "No acute cardiopulmonary process."]


@pytest.fixture(scope="module")
def lm():
    return load_lm(resolve_lm("minilm"), "eager")


def _encoder(lm, frozen, cache, **kw):
    tokenizer, model = lm
    tokens = ReportTokens.from_texts(REPORTS, tokenizer, max_length=24)
    return TrainableTextEncoder(model, tokens, frozen, cache_frozen=cache, **kw)


def test_tokens_record_words(lm):
    tokens = ReportTokens.from_texts(["pneumothorax seen"], lm[0], max_length=12)
    ids = tokens.word_ids[0].tolist()
    assert ids[0] == -1 and ids.count(-1) == 12 - tokens.attention_mask[0].sum().item() + 2  # [CLS], [SEP], padding
    pieces = lm[0].convert_ids_to_tokens(tokens.input_ids[0][tokens.word_ids[0] == 0].tolist())
    assert "".join(p.removeprefix("##") for p in pieces) == "pneumothorax"


@pytest.mark.parametrize("frozen", [0, 3, 5])
def test_cached_prefix_equals_running_it(lm, frozen):
    rows = torch.tensor([2, 0, 3, 4])  # 4 repeats 0: encoded once in the cache
    cached = _encoder(lm, frozen, True, last_n=4, cls_attention=True)
    live = _encoder(lm, frozen, False, last_n=4, cls_attention=True)
    for mode in (False, True):  # eval, and train with the same dropout draws
        cached.train(mode)
        live.train(mode)
        torch.manual_seed(7)
        a = cached(rows)
        torch.manual_seed(7)
        b = live(rows)
        for x, y in zip(a.hidden, b.hidden):
            assert torch.allclose(x, y, atol=1e-5)
        assert torch.allclose(a.cls_attention, b.cls_attention, atol=1e-6)
    assert a.hidden[-1].shape[1] == cached.tokens.lengths(rows)  # trimmed to the longest report in the batch


def test_only_layers_above_the_frozen_prefix_train(lm):
    enc = _encoder(lm, 4, True)
    n_layers = len(enc.layers)
    trainable = {name.split(".")[1] for name, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {str(i) for i in range(4, n_layers)}
    enc.train()
    assert not enc.embeddings.training and not enc.layers[3].training and enc.layers[4].training
    out = enc(torch.tensor([0, 1]))
    out.cls.sum().backward()
    assert enc.layers[5].output.dense.weight.grad is not None and enc.layers[3].output.dense.weight.grad is None
    counts = enc.parameter_counts()
    assert counts["trainable"] == sum(p.numel() for layer in enc.layers[4:] for p in layer.parameters())


def test_cls_attention_is_a_distribution(lm):
    out = _encoder(lm, 5, True, cls_attention=True).eval()(torch.tensor([1, 2]))
    assert torch.allclose(out.cls_attention.sum(1), torch.ones(2), atol=1e-5)
    assert (out.cls_attention[out.attention_mask == 0] < 1e-6).all()  # padding gets no attention
