#!/usr/bin/env python3
"""Loads an encoder exported by `deno task export` into the matching torch.nn model.

    import sys; sys.path.insert(0, "bench")
    from load_torch import load
    model = load("runs/small-60/encoder.safetensors")   # strict=True, eval mode
    features = model.encoder(images)   # images: NCHW float32, normalised as model.meta says

As a script it loads FILE (strict), prints the metadata and, with --cifar, writes the eval-mode
features of the first --count images of a CIFAR-10 binary batch (normalised with the file's own
mean/std) to --out as safetensors, for `deno task export --check`.

Needs only torch and numpy (Debian: apt-get install python3-torch); the safetensors reader and
writer are the few lines below, because Debian has no python3-safetensors.
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch

from peer_torch import ResNet10, ResNet18, Simple, Small

DTYPES = {"F32": (np.float32, torch.float32), "I64": (np.int64, torch.int64)}


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file (F32 and I64 tensors)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: only {len(raw)} bytes: truncated")
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {e['dtype']}; expected F32 or I64")
        begin, end = e["data_offsets"]
        a = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=DTYPES[e["dtype"]][0])
        tensors[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float32 or int64) with string metadata, offsets 8-byte aligned."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = "I64" if t.dtype == torch.int64 else "F32"
        data = t.to(DTYPES[dtype][1]).numpy().astype(DTYPES[dtype][0]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def build(name, width=None, head=None):
    """The torch model that `deno task export` names its tensors after (see peer_torch.py).

    `head`: {hidden, out, layers} of the projection head (`--proj-*`); absent keys (and files
    from before the head flags) take each model's default head.
    """
    head = head or {}
    if name == "simple":
        return Simple(**head)
    if name == "small":
        return Small(width or 32, **head)
    if name == "resnet10":
        return ResNet10(width or 32, **head)
    if name == "resnet18":
        return ResNet18(width or 64, **head)
    raise ValueError(f"unknown model {name!r}; expected simple, small, resnet10 or resnet18")


def load(path, strict=True):
    """The exported model with its weights (strict load), in eval mode; `.meta` has the metadata.

    Encoder-only files leave `model.projector` as None, so the state dicts match exactly.
    """
    tensors, meta = read_safetensors(path)
    head = {k: int(meta[f"proj_{k}"]) for k in ("hidden", "out", "layers") if meta.get(f"proj_{k}")}
    model = build(meta["model"], int(meta["width"]) if meta.get("width") else None, head)
    if not any(k.startswith("projector.") for k in tensors):
        model.projector = None
    model.load_state_dict(tensors, strict=strict)
    model.meta = meta
    return model.eval()


def cifar_images(path, count, mean, std):
    """The first `count` images of a CIFAR-10 binary batch, NCHW float32 normalised."""
    raw = np.fromfile(path, dtype=np.uint8)
    records = raw.reshape(-1, 3073)[:count]
    x = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("file", help="safetensors file written by deno task export")
    p.add_argument("--cifar", help="a CIFAR-10 binary batch (e.g. test_batch.bin)")
    p.add_argument("--count", type=int, default=256, help="images of --cifar to encode")
    p.add_argument("--out", help="where to write the features (safetensors, tensor 'features')")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    try:
        model = load(a.file)
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        print(f"load_torch: {a.file}: {e}", file=sys.stderr)
        sys.exit(1)
    n = sum(t.numel() for t in model.state_dict().values())
    print(f"loaded {a.file} with strict=True: {len(model.state_dict())} tensors, {n} values, "
          f"metadata {json.dumps(model.meta)}", file=sys.stderr)
    if a.cifar:
        if not a.out:
            p.error("--cifar needs --out")
        x = cifar_images(a.cifar, a.count, json.loads(model.meta["mean"]),
                         json.loads(model.meta["std"]))
        with torch.no_grad():
            features = model.encoder(x)
        write_safetensors(a.out, {"features": features})


if __name__ == "__main__":
    main()
