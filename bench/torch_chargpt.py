#!/usr/bin/env python3
"""PyTorch 1.13 reference for `chargpt train` defaults: nanoGPT's CPU shakespeare_char run
(4 layers, 4 heads, 128 channels, block 64, batch 12, AdamW 1e-3 (0.9, 0.99) wd 0.1 on >= 2-D params,
clip 1.0, warmup 100 then cosine to 1e-4 at 2000, iters 0..2000, eval every 250 on 20 batches).
Prints the eval lines like chargpt, tokens/s, and finally the mean loss over every non-overlapping
64-token window of the val split (what `chargpt eval` computes).
usage: torch_chargpt.py DATA [--seed S] [--threads N] [--max-iters N] [--gelu tanh|erf] [--no-embedding-decay]
                        [--dtype float32|bfloat16]
--dtype bfloat16: forwards (training and evaluation) under torch.autocast("cpu", dtype=torch.bfloat16),
as nanoGPT's dtype='bfloat16' (chargpt train --dtype bfloat16).
--gelu: the tanh approximation (GPT-2, chargpt's default) or exact erf (nanoGPT's current code).
--no-embedding-decay: weight decay on the Linear weights only, not on wte/wpe (nanoGPT's optimizer
groups before mid-2023, when its README's CPU result was measured; today's decay every >= 2-D
parameter, as DESIGN-NOTES §5 and chargpt do)."""
import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from ref_gpt import GPT  # noqa: E402  (the nanoGPT-equivalent model of the parity test and torch_train.py)

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("--seed", type=int, default=1337)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--max-iters", type=int, default=2000)
ap.add_argument("--gelu", choices=["tanh", "erf"], default="tanh")
ap.add_argument("--no-embedding-decay", action="store_true")
ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
a = ap.parse_args()
torch.set_default_dtype(torch.float32)
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
text = open(a.data, encoding="utf-8").read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(0.9 * len(data))
train, val = data[:n], data[n:]
B, T, V = 12, 64, len(chars)
model = GPT(V, T, 4, 4, 128, False, a.gelu)  # nanoGPT's init
emb = {id(p) for n, p in model.named_parameters() if "wte" in n or "wpe" in n} if a.no_embedding_decay else set()
decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in emb]
nodecay = [p for p in model.parameters() if p.dim() < 2 or id(p) in emb]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.99), eps=1e-8)


def ctx():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bfloat16")


def batch(d):
    ix = torch.randint(len(d) - T, (B,))
    return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + 1 + T] for i in ix])


def lr_at(it):
    if it < 100:
        return 1e-3 * (it + 1) / 101
    if it > 2000:
        return 1e-4
    return 1e-4 + 0.5 * (1 + math.cos(math.pi * (it - 100) / 1900)) * (1e-3 - 1e-4)


t0, toks = time.time(), 0
for it in range(a.max_iters + 1):
    for g in opt.param_groups:
        g["lr"] = lr_at(it)
    if it % 250 == 0:
        model.eval()
        with torch.no_grad(), ctx():
            ls = [sum(model(*batch(d)).item() for _ in range(20)) / 20 for d in (train, val)]
        model.train()
        print("step %d: train loss %.4f, val loss %.4f" % (it, ls[0], ls[1]), flush=True)
    with ctx():
        loss = model(*batch(train))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    toks += B * T
print("tokens/s %.0f" % (toks / (time.time() - t0)))
model.eval()
with torch.no_grad(), ctx():
    w = (len(val) - 1) // T
    x = val[:w * T].view(w, T)
    y = val[1:w * T + 1].view(w, T)
    tot = sum(model(x[i:i + 32], y[i:i + 32]).item() * len(x[i:i + 32]) for i in range(0, w, 32))
print("val_loss %.4f (full split, final weights)" % (tot / w))
