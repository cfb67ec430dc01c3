#!/usr/bin/env python3
"""PyTorch as an outside oracle for `deno task verify --peer torch`.

Loads the initial weights (--init, all of encoder and projector, strict) and one fixed batch of
two views (--batch: tensors view1, view2, NCHW float32), runs --steps SimCLR training steps
(both views in one batch, NT-Xent with tau, Adam with torch's defaults and --lr, train-mode batch
norm) and writes to --out: `oracle.loss` (one per step), `oracle.features` (the eval-mode encoder
features of view1 then view2, after the last step), `oracle.grad1.NAME` and `oracle.step1.NAME` (each
parameter's gradient at the first step and every state-dict tensor after it) and the final state dict under its own names.

--break bn-var normalises batch norm with the unbiased batch variance in training (torch uses
the biased one): a deliberately wrong convention, for showing that the oracle catches it.
"""
import argparse

import torch
import torch.nn.functional as F

from load_torch import load, read_safetensors, write_safetensors
from peer_torch import nt_xent


def unbiased_batch_norm(self, x):
    """Training-mode batch norm with the unbiased variance everywhere (the broken convention)."""
    if not self.training:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0.0, self.eps)
    dims = [0] + list(range(2, x.dim()))
    mean = x.mean(dims)
    var = x.var(dims, unbiased=True)
    with torch.no_grad():
        self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
        self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
        self.num_batches_tracked += 1
    shape = [1, -1] + [1] * (x.dim() - 2)
    return ((x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
            * self.weight.view(shape) + self.bias.view(shape))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--init", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--break", dest="broken", choices=["none", "bn-var"], default="none")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.broken == "bn-var":
        torch.nn.modules.batchnorm._BatchNorm.forward = unbiased_batch_norm
    views, _ = read_safetensors(a.batch)
    v1, v2 = views["view1"], views["view2"]
    n = v1.shape[0]
    model = load(a.init).train()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    losses, grads = [], {}
    for step in range(a.steps):
        z = model(torch.cat([v1, v2]))
        loss = nt_xent(z[:n], z[n:], a.tau)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grads = {f"oracle.grad1.{k}": p.grad.clone() for k, p in model.named_parameters()}
        opt.step()
        if step == 0:
            grads.update({f"oracle.step1.{k}": v.detach().clone()
                          for k, v in model.state_dict().items()})
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        features = model.encoder(torch.cat([v1, v2]))
    out = {"oracle.loss": torch.tensor(losses, dtype=torch.float32),
           "oracle.features": features, **grads, **model.state_dict()}
    write_safetensors(a.out, out, {"torch": torch.__version__, "break": a.broken})


if __name__ == "__main__":
    main()
