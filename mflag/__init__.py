"""M-FLAG: image encoder aligned to a frozen language model with an orthogonality loss."""

from mflag.losses import alignment_loss, orthogonality_loss
from mflag.model import MFlag

__all__ = ["MFlag", "alignment_loss", "orthogonality_loss"]
