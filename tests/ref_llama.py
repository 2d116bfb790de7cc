#!/usr/bin/env python3
"""ref_llama.py — the PyTorch side of tests/test_llama.c: a LLaMA decoder with the semantics of
Karpathy's llama2.c model.py (written here from that description): RMSNorm, rotary embeddings from
precomputed cos/sin tables (pairs (2i, 2i+1) rotated as complex numbers), grouped-query attention
whose k/v heads are repeated as repeat_interleave (repeat_kv), SwiGLU FeedForward w2(silu(w1 x) * w3 x),
no biases, output tied to tok_embeddings unless untied. The tables are computed in the model's dtype
(llama2.c uses float32 even in a float64 model; nabla's nb_rope computes in double).

usage: ref_llama.py loss FILE    prints the forward loss of the weights and data in FILE
       ref_llama.py train FILE   trains 20 AdamW steps (lr 1e-2, betas 0.9/0.99, wd 0.1 on >= 2-D
                                 params, clip 1.0) and prints one loss per line
FILE is a safetensors file nabla wrote: the model's parameters under llama2.c's names, data.x and
data.y, and the config in the metadata. The model loads it by name (strict, except output.weight
when tied)."""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_torch import read  # noqa: E402  (the test suite's own format reader)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def precompute_freqs(head_dim, end, theta, dtype):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=dtype)[: head_dim // 2] / head_dim))
    angles = torch.outer(torch.arange(end, dtype=dtype), inv)  # [end, head_dim / 2]
    return torch.cos(angles), torch.sin(angles)


def rotate(x, cos, sin):
    """x [B, T, nh, hs]: each pair (x[2i], x[2i+1]) times (cos + i sin) of its position and i."""
    re, im = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    c = cos[: x.shape[1]].view(1, x.shape[1], 1, -1)
    s = sin[: x.shape[1]].view(1, x.shape[1], 1, -1)
    return torch.stack([re * c - im * s, re * s + im * c], dim=-1).flatten(3)


def repeat_kv(x, n_rep):
    """[B, T, kvh, hs] -> [B, T, kvh * n_rep, hs], each kv head repeated n_rep times in place."""
    return x if n_rep == 1 else torch.repeat_interleave(x, n_rep, dim=2)


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.hs = n_heads, n_kv_heads, dim // n_heads
        self.wq = nn.Linear(dim, n_heads * self.hs, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * self.hs, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * self.hs, bias=False)
        self.wo = nn.Linear(n_heads * self.hs, dim, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = rotate(self.wq(x).view(B, T, self.n_heads, self.hs), cos, sin)
        k = rotate(self.wk(x).view(B, T, self.n_kv_heads, self.hs), cos, sin)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.hs)
        n_rep = self.n_heads // self.n_kv_heads
        q, k, v = q.transpose(1, 2), repeat_kv(k, n_rep).transpose(1, 2), repeat_kv(v, n_rep).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hs)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        att = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, -1)
        return self.wo(y)


class FeedForward(nn.Module):
    def __init__(self, dim, multiple_of):
        super().__init__()
        hidden = int(2 * (4 * dim) / 3)
        hidden = multiple_of * ((hidden + multiple_of - 1) // multiple_of)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c["dim"], c["n_heads"], c["n_kv_heads"])
        self.feed_forward = FeedForward(c["dim"], c["multiple_of"])
        self.attention_norm = RMSNorm(c["dim"], c["norm_eps"])
        self.ffn_norm = RMSNorm(c["dim"], c["norm_eps"])

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.tok_embeddings = nn.Embedding(c["vocab_size"], c["dim"])
        self.layers = nn.ModuleList([TransformerBlock(c) for _ in range(c["n_layers"])])
        self.norm = RMSNorm(c["dim"], c["norm_eps"])
        self.output = nn.Linear(c["dim"], c["vocab_size"], bias=False)
        if c["tie_embeddings"]:
            self.tok_embeddings.weight = self.output.weight
        cos, sin = precompute_freqs(c["dim"] // c["n_heads"], c["max_seq_len"], c["rope_theta"], dtype)
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)

    def forward(self, idx, targets):
        h = self.tok_embeddings(idx)
        for layer in self.layers:
            h = layer(h, self.freqs_cos, self.freqs_sin)
        logits = self.output(self.norm(h))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    _, _, tensors, meta = read(path)
    x, y = tensors.pop("data.x"), tensors.pop("data.y")
    c = {k: (v == "true" if k == "tie_embeddings" else float(v) if k in ("norm_eps", "rope_theta") else int(v))
         for k, v in meta.items()}
    dtype = tensors["tok_embeddings.weight"].dtype
    torch.set_default_dtype(dtype)
    model = Transformer(c, dtype)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    assert missing == (["output.weight"] if c["tie_embeddings"] else []) and not unexpected, (missing, unexpected)
    if cmd == "loss":
        print(repr(model(x, y).item()))
        return
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    for _ in range(20):
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        print(repr(loss.item()))


if __name__ == "__main__":
    main()
