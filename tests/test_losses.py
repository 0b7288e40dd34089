"""M-FLAG losses against values computed by hand."""

import math

import pytest
import torch

from mflag.losses import alignment_loss, orthogonality_loss


def test_alignment_loss_hand_computed():
    x = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    y = torch.tensor([[0.0, 2.0], [3.0, 4.0]])
    # pair 1: cos = 0 -> (2 - 0) + (2 - 0) = 4; pair 2: cos = 1 -> 0; mean = 2
    assert alignment_loss(x, y).item() == pytest.approx(2.0)


def test_alignment_loss_angle():
    x = torch.tensor([[1.0, 0.0]])
    y = torch.tensor([[1.0, 1.0]])
    expected = 2 * (2 - 2 * math.cos(math.pi / 4))
    assert alignment_loss(x, y).item() == pytest.approx(expected, rel=1e-6)


def test_alignment_loss_scale_invariant_and_minimal_when_aligned():
    x = torch.randn(8, 16)
    assert alignment_loss(x, 5 * x).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment_loss(x, -x).item() == pytest.approx(8.0, abs=1e-5)


def test_orthogonality_loss_hand_computed():
    z = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    # C = z^T z / 2 = [[5, 1], [1, 2]]; diag: (5-1)^2 + (2-1)^2 = 17; off: 1 + 1 = 2
    expected = 0.5 * (17 + 0.0051 * 2)
    assert orthogonality_loss(z).item() == pytest.approx(expected, rel=1e-6)


def test_orthogonality_loss_zero_for_orthonormal_columns():
    # columns of sqrt(B) * I: C = I exactly
    b = 4
    z = torch.eye(b) * math.sqrt(b)
    assert orthogonality_loss(z).item() == pytest.approx(0.0, abs=1e-6)


def test_orthogonality_loss_not_centred():
    # a constant feature is not centred away: C_00 = 4 -> (4 - 1)^2 / 2
    z = torch.full((3, 1), 2.0)
    assert orthogonality_loss(z).item() == pytest.approx(4.5)


def test_losses_have_gradients():
    z = torch.randn(6, 5, requires_grad=True)
    (orthogonality_loss(z) + alignment_loss(z, torch.randn(6, 5))).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
