"""ConVIRT, GLoRIA and MGCA loss functions on small cases checked by hand or by a plain loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from baselines.losses import cross_entropy_both_ways, gloria_local_similarity, info_nce, prototype_loss, sinkhorn, token_alignment_loss
from baselines.mgca import word_weights
from benchmark.pretraining.text_encoder import merge_word_pieces


def test_cross_entropy_both_ways_hand_computed():
    s = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    rows, cols = cross_entropy_both_ways(s)
    # rows: -log softmax([2,0])[0] and -log softmax([1,1])[1]
    r = (math.log(1 + math.exp(-2)) + math.log(2)) / 2
    # columns: column 0 = [2, 1] target 0; column 1 = [0, 1] target 1
    c = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-1))) / 2
    assert rows.item() == pytest.approx(r, rel=1e-6) and cols.item() == pytest.approx(c, rel=1e-6)


def test_info_nce_aligned_pairs_give_the_minimum():
    x = torch.eye(4)
    i2t, t2i = info_nce(x, 3 * x, temperature=0.5)
    # cos = 1 on the diagonal, 0 elsewhere: -log(e^(1/τ) / (e^(1/τ) + 3))
    expected = -math.log(math.exp(2) / (math.exp(2) + 3))
    assert i2t.item() == pytest.approx(expected, rel=1e-6) and t2i.item() == pytest.approx(expected, rel=1e-6)
    shuffled = info_nce(x, x[[1, 0, 3, 2]], 0.5)[0]
    # every pair mismatched: the positive has cos 0, one negative cos 1
    assert shuffled.item() == pytest.approx(-math.log(1 / (math.exp(2) + 3)), rel=1e-6)
    torch.manual_seed(0)
    assert info_nce(x, x + 0.3 * torch.randn(4, 4), 0.5)[0].item() > i2t.item()


def test_gloria_one_word_one_region_is_plain_cosine():
    words = torch.tensor([[[1.0, 0.0]]])
    mask = torch.tensor([[True]])
    regions = torch.tensor([[[1.0, 1.0]]])
    s = gloria_local_similarity(words, mask, regions, gamma1=4, gamma2=5)
    # a single region takes all attention: log(exp(5 cos)) = 5 cos 45°
    assert s.item() == pytest.approx(5 * math.cos(math.pi / 4), rel=1e-6)


def test_gloria_matches_a_loop_over_pairs():
    torch.manual_seed(0)
    words, regions = torch.randn(3, 4, 5), torch.randn(2, 6, 5)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    got = gloria_local_similarity(words, mask, regions, gamma1=4.0, gamma2=5.0)
    assert got.shape == (2, 3)
    for i in range(2):
        for t in range(3):
            w = words[t, mask[t]]  # (W, E)
            logits = w @ regions[i].T  # (W, R)
            attn = (4.0 * logits.softmax(dim=0)).softmax(dim=1)
            context = attn @ regions[i]
            cos = F.cosine_similarity(w, context, dim=-1)
            assert got[i, t].item() == pytest.approx(torch.log(torch.exp(5.0 * cos).sum()).item(), rel=1e-5)


def _token_loss_loop(words, mask, weights, patches, tau):
    word_total, patch_total = 0.0, 0.0
    b, r = patches.shape[:2]
    for i in range(b):
        w, p = words[i, mask[i]], patches[i]
        att = F.normalize((w @ p.T / tau).softmax(1) @ p, dim=-1)
        sim = w @ att.T / tau
        target = torch.arange(len(w))
        ce = (F.cross_entropy(sim, target, reduction="none") + F.cross_entropy(sim.T, target, reduction="none")) / 2
        word_total += (ce * weights[i, mask[i]]).sum()
        att = F.normalize((p @ w.T / tau).softmax(1) @ w, dim=-1)
        sim = p @ att.T / tau
        target = torch.arange(r)
        patch_total += ((F.cross_entropy(sim, target, reduction="none")
                         + F.cross_entropy(sim.T, target, reduction="none")) / 2).mean()
    return word_total / b, patch_total / b


def test_token_alignment_matches_a_loop_per_report():
    torch.manual_seed(1)
    words = F.normalize(torch.randn(2, 4, 8), dim=-1)
    patches = F.normalize(torch.randn(2, 5, 8), dim=-1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    weights = torch.rand(2, 4) * mask
    weights = weights / weights.sum(1, keepdim=True)
    got = token_alignment_loss(words, mask, weights, patches, 0.1)
    word, patch = _token_loss_loop(words, mask, weights, patches, 0.1)
    assert got["word"].item() == pytest.approx(float(word), rel=1e-5)
    assert got["patch"].item() == pytest.approx(float(patch), rel=1e-5)


def test_token_alignment_is_small_when_words_are_their_patches():
    e = torch.eye(4).unsqueeze(0)  # 4 words = 4 patches, orthonormal
    mask = torch.ones(1, 4, dtype=torch.bool)
    aligned = token_alignment_loss(e, mask, torch.full((1, 4), 0.25), e, 0.1)
    assert aligned["word"].item() < 1e-3 and aligned["patch"].item() < 1e-3
    shifted = token_alignment_loss(e, mask, torch.full((1, 4), 0.25), torch.roll(e, 1, dims=2), 0.1)
    assert shifted["word"].item() == pytest.approx(aligned["word"].item(), abs=1e-6)  # a permutation of patches is still aligned
    mixed = token_alignment_loss(e, mask, torch.full((1, 4), 0.25), F.normalize(torch.ones(1, 4, 4), dim=-1), 0.1)
    assert mixed["word"].item() == pytest.approx(math.log(4), rel=1e-5)  # every word attends to the same vector


def test_sinkhorn_gives_equal_prototype_mass():
    torch.manual_seed(2)
    scores = torch.randn(8, 3)
    q = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert torch.allclose(q.sum(1), torch.ones(8), atol=1e-6)  # each sample: a distribution over prototypes
    assert torch.allclose(sinkhorn(torch.zeros(6, 3), 0.05, 3), torch.full((6, 3), 1 / 3))
    many = sinkhorn(scores, 0.05, 200)
    assert torch.allclose(many.sum(0), torch.full((3,), 8 / 3), atol=1e-3)  # equal mass per prototype


def test_prototype_loss_hand_computed():
    img = torch.zeros(2, 2)  # uniform codes for images: q = 1/2 each
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]]) * 0.2  # text scores / 0.2 = identity logits
    loss = prototype_loss(img, txt, epsilon=0.05, iterations=3, temperature=0.2)
    q_text = sinkhorn(txt, 0.05, 3)
    log_p_text = -math.log(1 + math.e) + torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = -0.5 * ((0.5 * log_p_text).sum(1).mean() + (q_text * math.log(0.5)).sum(1).mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the swapped prediction treats both modalities alike: exchanging them leaves the loss unchanged
    swapped = prototype_loss(txt, img, epsilon=0.05, iterations=3, temperature=0.2)
    assert swapped.item() == pytest.approx(expected.item(), rel=1e-6)


def test_merge_word_pieces_sums_pieces():
    tokens = torch.arange(12, dtype=torch.float32).view(1, 6, 2)
    word_ids = torch.tensor([[-1, 0, 0, 1, 2, -1]])  # [CLS] pneumo ##thorax seen . [SEP]
    words, mask = merge_word_pieces(tokens, word_ids)
    assert words.tolist() == [[[2 + 4, 3 + 5], [6, 7], [8, 9]]] and mask.tolist() == [[True, True, True]]


def test_word_weights_clip_to_percentiles_and_sum_to_one():
    attention = torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.4, 5.0, 0.0]])
    word_ids = torch.tensor([[-1, 0, 1, 2, 3, 4, -1]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    w = word_weights(attention, word_ids, mask)
    lo, hi = torch.quantile(torch.tensor([0.1, 0.2, 0.3, 0.4, 5.0]), 0.1), torch.quantile(torch.tensor([0.1, 0.2, 0.3, 0.4, 5.0]), 0.9)
    clipped = torch.tensor([0.1, 0.2, 0.3, 0.4, 5.0]).clamp(lo, hi)
    assert torch.allclose(w[0], clipped / clipped.sum()) and w.sum().item() == pytest.approx(1.0)


def test_gloria_cosine_ignores_the_length_of_short_word_vectors():
    """One word along its only region: cos = 1 whatever the word's length (0.1 here), so the score is
    log(exp(gamma2)) = gamma2; a second, padded word changes nothing."""
    regions = torch.tensor([[[3.0, 4.0]]])  # (Bi=1, R=1, E=2)
    words = torch.tensor([[[0.06, 0.08], [5.0, -1.0]]])  # (Bt=1, W=2, E=2): |w0| = 0.1, w1 is padding
    mask = torch.tensor([[True, False]])
    score = gloria_local_similarity(words, mask, regions, gamma1=4.0, gamma2=5.0)
    assert score.shape == (1, 1) and score.item() == pytest.approx(5.0, rel=1e-6)
