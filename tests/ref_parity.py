#!/usr/bin/env python3
"""PyTorch side of tests/test_parity.c: loads initial weights and data that nabla wrote (safetensors),
builds the same model in PyTorch 1.13 (float64), trains 20 AdamW steps with gradient clipping, and
prints one loss per line.  usage: ref_parity.py mlp|gpt FILE"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_torch import read  # noqa: E402  (the test suite's own format reader)

torch.set_default_dtype(torch.float64)


class Attn(nn.Module):
    def __init__(self, C, nh, bias):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)
        self.nh = nh

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.nh
        q = q.view(B, T, self.nh, hs).transpose(1, 2)
        k = k.view(B, T, self.nh, hs).transpose(1, 2)
        v = v.view(B, T, self.nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
        att = att.masked_fill(mask == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    approximate = "tanh"  # GELU: "tanh" (GPT-2, nabla's default) or "none" (exact erf)

    def __init__(self, C, bias):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.c_proj = nn.Linear(4 * C, C, bias=bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate))


class Block(nn.Module):
    def __init__(self, C, nh, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, elementwise_affine=True)
        self.attn = Attn(C, nh, bias)
        self.ln_2 = nn.LayerNorm(C, elementwise_affine=True)
        self.mlp = MLP(C, bias)
        if not bias:
            self.ln_1.bias = None
            self.ln_2.bias = None

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, V, T, L, nh, C, bias):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C),
            h=nn.ModuleList([Block(C, nh, bias) for _ in range(L)]),
            ln_f=nn.LayerNorm(C)))
        if not bias:
            self.transformer.ln_f.bias = None
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx, targets):
        B, T = idx.size()
        pos = torch.arange(0, T, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for blk in self.transformer.h:
            x = blk(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    kind, path = sys.argv[1], sys.argv[2]
    _, _, tensors, meta = read(path)
    x, y = tensors.pop("data.x"), tensors.pop("data.y")
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
        model.load_state_dict(tensors, strict=True)
        loss_fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    else:
        m = {k: int(v) if k != "bias" else v == "true" for k, v in meta.items()}
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
