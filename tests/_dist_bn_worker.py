"""One rank of a job (torchrun's environment) for tests/test_engine_distributed.py: GlobalBatchNorm on this
rank's rows of a global batch; writes outputs, input gradients, parameter gradients and running statistics
to OUT.rankR.npz. The test runs rank 0 in its own process (``run``) and the others as this script.

usage: torchrun --nproc_per_node W tests/_dist_bn_worker.py OUT [legacy]
"""

import datetime
import sys

import numpy as np
import torch
import torch.distributed as dist

from vaediag.engine import distributed as D
from vaediag.engine.distributed import GlobalBatchNorm


def global_inputs(batch: int = 9):
    """The same global batch on every rank (and in the test): 4-D and 2-D inputs, loss weights."""
    g = torch.Generator().manual_seed(0)
    x4 = torch.randn(batch, 3, 5, 4, generator=g, dtype=torch.float64) * 2 + 1
    x2 = torch.randn(batch, 6, generator=g, dtype=torch.float64) - 3
    w4, w2 = torch.randn(x4.shape, generator=g, dtype=torch.float64), torch.randn(x2.shape, generator=g, dtype=torch.float64)
    return x4.float(), x2.float(), w4.float(), w2.float()


def layers(cls):
    torch.manual_seed(1)
    bn4, bn2 = cls(3), cls(6)
    with torch.no_grad():  # non-trivial affine parameters
        for bn in (bn4, bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-1, 1)
    return bn4, bn2


def run(out: str) -> D.Dist:
    """Join the job (a few minutes at most: a rank that died must not leave the others waiting for hours)
    and write this rank's results."""
    dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=5))
    ctx = D.Dist(dist.get_rank(), dist.get_world_size())
    x4, x2, w4, w2 = global_inputs()
    lo, hi = ctx.shard(len(x4))
    bn4, bn2 = layers(GlobalBatchNorm)
    a4, a2 = x4[lo:hi].clone().requires_grad_(), x2[lo:hi].clone().requires_grad_()
    for _ in range(2):  # two steps: running statistics accumulate
        y4, y2 = bn4(a4), bn2(a2)
    ((y4 * w4[lo:hi]).sum() + (y2 * w2[lo:hi]).sum()).backward()
    np.savez(f"{out}.rank{ctx.rank}.npz", lo=lo, hi=hi, y4=y4.detach().numpy(), y2=y2.detach().numpy(),
             g4=a4.grad.numpy(), g2=a2.grad.numpy(),
             **{f"{name}_{k}": v.detach().numpy() for name, bn in (("bn4", bn4), ("bn2", bn2))
                for k, v in [("wgrad", bn.weight.grad), ("bgrad", bn.bias.grad), ("rm", bn.running_mean),
                             ("rv", bn.running_var)]})
    return ctx


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "legacy":
        D.autograd_all_reduce = D._autograd_all_reduce_legacy
    run(sys.argv[1]).close()  # as the command line does: after the tensors of run() are gone
