#!/usr/bin/env python3
"""PyTorch side of tests/test_parity.c: loads initial weights and data that nabla wrote (safetensors),
builds the same model in PyTorch 1.13 (float64), trains 20 AdamW steps with gradient clipping, and
prints one loss per line.  usage: ref_parity.py mlp|gpt FILE"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_gpt import GPT  # noqa: E402  (the reference GPT, shared with bench/)
from safetensors_torch import read  # noqa: E402  (the test suite's own format reader)

torch.set_default_dtype(torch.float64)


def main():
    GPT_KEYS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "bias")
    kind, path = sys.argv[1], sys.argv[2]
    _, _, tensors, meta = read(path)
    x, y = tensors.pop("data.x"), tensors.pop("data.y")
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
        model.load_state_dict(tensors, strict=True)
        loss_fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    else:
        m = {k: int(v) if k != "bias" else v == "true" for k, v in meta.items() if k in GPT_KEYS}
        model = GPT(m["vocab_size"], m["block_size"], m["n_layer"], m["n_head"], m["n_embd"], m["bias"])
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        assert missing == ["lm_head.weight"] and not unexpected, (missing, unexpected)
        loss_fn = lambda: model(x, y)  # noqa: E731
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    for _ in range(20):
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        print(repr(loss.item()))


if __name__ == "__main__":
    main()
