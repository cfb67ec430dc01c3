#!/usr/bin/env python3
"""The peer benchmark: the same SimCLR training step as `deno task bench` in PyTorch.

Same models (simple = the seed's SimpleCNN, small, resnet18 with the CIFAR stem), two views per
image in one batch, NT-Xent (tau 0.5, self-similarity masked), Adam lr 1e-3, 2 threads. Prints a
JSON list of rows {backend, model, batch, stepSeconds, imagesPerSec} on stdout.
--autocast bf16 runs the forward pass under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's
fastest mode on CPUs with AVX512_BF16 or AMX (weights and optimizer stay fp32); the backend name
then ends in "-bf16".
Install: apt-get install python3-torch (Debian's PyTorch 1.13).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def head(cin, hidden, out, layers, bn):
    """The projection head of core/models.ts's projectionHead: layers - 1 hidden layers (Linear
    without bias, BatchNorm1d, ReLU when bn; else Linear, ReLU), then Linear(-, out)."""
    mods = []
    for _ in range(layers - 1):
        mods += [nn.Linear(cin, hidden, bias=not bn)] + ([nn.BatchNorm1d(hidden)] if bn else [])
        mods.append(nn.ReLU())
        cin = hidden
    return nn.Sequential(*mods, nn.Linear(cin, out))


class Simple(nn.Module):
    def __init__(self, hidden=256, out=128, layers=2):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.projector = head(8192, hidden, out, layers, bn=False)

    def forward(self, x):
        return self.projector(self.encoder(x))


class Small(nn.Module):
    def __init__(self, w=32, hidden=256, out=128, layers=2):
        super().__init__()
        self.encoder = nn.Sequential(
            *conv_bn_relu(3, w), nn.MaxPool2d(2), *conv_bn_relu(w, 2 * w), nn.MaxPool2d(2),
            *conv_bn_relu(2 * w, 4 * w), nn.MaxPool2d(2), *conv_bn_relu(4 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.projector = head(8 * w, hidden, out, layers, bn=True)

    def forward(self, x):
        return self.projector(self.encoder(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.main(x) + self.short(x))


class ResNet18(nn.Module):
    BLOCKS = 2  # basic blocks a stage; ResNet10 has one

    def __init__(self, w=64, hidden=512, out=128, layers=2):
        super().__init__()
        mods = conv_bn_relu(3, w)
        cin = w
        for stage, mult in enumerate([1, 2, 4, 8]):
            for b in range(self.BLOCKS):
                mods.append(Block(cin, w * mult, 2 if stage > 0 and b == 0 else 1))
                cin = w * mult
        self.encoder = nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.projector = head(cin, hidden, out, layers, bn=False)

    def forward(self, x):
        return self.projector(self.encoder(x))


class ResNet10(ResNet18):
    BLOCKS = 1

    def __init__(self, w=32, **head_args):
        super().__init__(w, **head_args)


def nt_xent(z1, z2, tau=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / tau
    logits.fill_diagonal_(-1e9)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


def bench(name, batch, steps, autocast):
    model = {"simple": Simple, "small": Small, "resnet10": ResNet10,
             "resnet18": ResNet18}[name]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    v1 = torch.randn(batch, 3, 32, 32)
    v2 = torch.randn(batch, 3, 32, 32)
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            z = model(torch.cat([v1, v2]))
        loss = nt_xent(z[:batch].float(), z[batch:].float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s > 0:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    suffix = "-bf16" if autocast == "bf16" else ""
    return {"backend": f"pytorch-{torch.__version__}{suffix}", "model": name, "batch": batch,
            "stepSeconds": median, "imagesPerSec": batch / median}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default="simple,small,resnet18")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--autocast", choices=["none", "bf16"], default="none",
                   help="bf16: forward under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = [bench(m, 64 if m == "resnet18" else a.batch, a.steps, a.autocast)
            for m in a.models.split(",")]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
