"""Data-parallel training under ``torchrun``: the same entry point, N processes, one global batch.

Contrastive and orthogonality losses, and BatchNorm, look at the whole batch. For an
N-process run to train exactly what a single process with the same global batch
trains, every batch-level quantity is computed over all ranks:

- :func:`gather` concatenates a tensor from every rank, differentiably (the backward
  pass sums the gradient over ranks and keeps this rank's slice);
- :class:`GlobalBatchNorm` normalises with statistics over all ranks. torch's
  ``SyncBatchNorm`` does this on GPUs only; on CPU (gloo) this module does it.

With one process every function here is the identity, so methods call them
unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

#: process group for the collectives inside forward/backward (gather, global BatchNorm). Kept
#: apart from the default group, which DistributedDataParallel's asynchronous gradient
#: all-reduces use, so the two streams of collectives can never interleave differently on
#: different ranks.
_GROUP = None
#: whether batch-level losses see the global batch (``gather``); the official M-FLAG, MGCA and
#: ConVIRT code computes them over each process's own batch (a recipe's ``gather: false``)
_GATHER = True


def set_gather(enabled: bool) -> None:
    """Batch-level losses over the global batch (True) or over each process's batch (False)."""
    global _GATHER
    _GATHER = bool(enabled)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_from_env() -> Context:
    """Join the process group that ``torchrun`` describes (RANK, WORLD_SIZE); single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(device=torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    rank = int(os.environ["RANK"])
    cuda = torch.cuda.is_available()
    global _GROUP
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    _GROUP = dist.new_group(backend="nccl" if cuda else "gloo")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return Context(rank=rank, world_size=world, device=device)


def shutdown() -> None:
    global _GROUP
    _GROUP = None
    if dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return _GROUP is not None and dist.get_world_size() > 1


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.size = dist.get_rank(_GROUP), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(_GROUP))]
        dist.all_gather(parts, x.contiguous(), group=_GROUP)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # every rank computed the same loss from the gathered batch: sum their gradients
        grad = grad.contiguous()
        dist.all_reduce(grad, group=_GROUP)
        return grad[ctx.rank * ctx.size:(ctx.rank + 1) * ctx.size]


def gather(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of ``x`` in rank order (equal row counts per rank); identity in one process."""
    return _Gather.apply(x) if _GATHER and _active() else x


def gather_padded(x: torch.Tensor, dim: int = 1, value: float = 0.0) -> torch.Tensor:
    """:func:`gather` for tensors whose ``dim`` differs by rank (e.g. words per report): pad to the longest first."""
    if not (_GATHER and _active()):
        return x
    size = torch.tensor([x.shape[dim]], device=x.device)  # NCCL reduces CUDA tensors only
    dist.all_reduce(size, op=dist.ReduceOp.MAX, group=_GROUP)
    missing = int(size) - x.shape[dim]
    if missing:
        pad_shape = list(x.shape)
        pad_shape[dim] = missing
        x = torch.cat([x, x.new_full(pad_shape, value)], dim=dim)
    return gather(x)


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, group=_GROUP)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, group=_GROUP)
        return grad


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over ranks; identity in one process."""
    return _AllReduceSum.apply(x) if _active() else x


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch (all ranks), for CPU process groups.

    Mean and variance come from sums all-reduced across ranks, so each sample is
    normalised exactly as in one process that sees the whole batch; running
    statistics use the unbiased global variance, as ``nn.BatchNorm*`` does.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _active()):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        c = x.shape[1]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.tensor(float(x.numel() // c), dtype=x.dtype, device=x.device)
        stats = all_reduce_sum(torch.cat([x.sum(dims), count.view(1)]))
        n = stats[-1]
        mean = stats[:c] / n
        # second pass on centred values: E[x^2] - E[x]^2 loses precision when |mean| >> std
        var = all_reduce_sum((x - mean.view(shape)).pow(2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module, ctx: Context) -> nn.Module:
    """Make every BatchNorm normalise over the global batch (SyncBatchNorm on GPU, ours on CPU)."""
    if not ctx.distributed:
        return module
    if ctx.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _replace_bn(module)


def _replace_bn(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        for p_new, p_old in zip(new.parameters(), module.parameters()):
            p_new.requires_grad_(p_old.requires_grad)
        return new
    for name, child in module.named_children():
        setattr(module, name, _replace_bn(child))
    return module
