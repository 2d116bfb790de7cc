#!/usr/bin/env python3
"""torch_train.py — the PyTorch reference for bench/bench_train: the same GPT, step and output.

A minimal nanoGPT (model.py) with dropout 0, bias False (LayerNorm without bias, as nanoGPT's own
LayerNorm class), tied wte/lm_head, tanh GELU (nabla's default; --gelu erf for nanoGPT's current
one), the explicit causal attention of nanoGPT's slow path (PyTorch 1.13 has no
scaled_dot_product_attention). Each step: forward, mean cross-entropy, backward, clip_grad_norm_
(1.0), AdamW (lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on >= 2-D params), zero_grad(set_to_none)
on random token ids from a seeded generator. Prints the same RESULT line as bench_train:

    /usr/bin/python3 bench/torch_train.py --preset char --threads 1

--threads N calls torch.set_num_threads(N); OpenBLAS's own thread count is its environment's
(bench/run.sh sets OPENBLAS_NUM_THREADS=N alongside). --threads 0 leaves both as PyTorch picks.
"""
import argparse
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "char": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab=65, batch=12, seq=64),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab=50257, batch=4, seq=64),
}


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT's class; nn.LayerNorm cannot drop the bias in 1.13)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=False)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=False)
        self.n_head = c.n_head
        self.register_buffer("bias", torch.tril(torch.ones(c.block_size, c.block_size))
                             .view(1, 1, c.block_size, c.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=False)
        self.gelu = nn.GELU(approximate=c.gelu)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c.n_embd, bias=False)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c.n_embd, bias=False)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab, c.n_embd),
            wpe=nn.Embedding(c.block_size, c.n_embd),
            h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
            ln_f=LayerNorm(c.n_embd, bias=False),
        ))
        self.lm_head = nn.Linear(c.n_embd, c.vocab, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        T = idx.size(1)
        pos = torch.arange(0, T, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=PRESETS, default="char")
    for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab", "batch", "seq"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, dest=k)
    ap.add_argument("--gelu", choices=("tanh", "erf"), default="tanh")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--name")
    a = ap.parse_args()
    for k, v in PRESETS[a.preset].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.gelu = "tanh" if a.gelu == "tanh" else "none"
    if a.seq > a.block_size or a.n_embd % a.n_head:
        sys.exit("torch_train.py: need seq <= block_size and n_embd divisible by n_head")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    torch.manual_seed(a.seed)
    t_init = time.perf_counter()
    model = GPT(a)
    model.train()
    params = [p for p in model.parameters()]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.99))
    t_init = time.perf_counter() - t_init
    n_params = sum(p.numel() for p in params)
    data_gen = torch.Generator().manual_seed(a.seed ^ 0x5EED5EED5EED)
    tokens = a.batch * a.seq
    print(f"torch {torch.__version__} torch_train: {a.preset}, {a.n_layer} layers, {a.n_head} heads, "
          f"{a.n_embd} channels, block {a.block_size}, vocab {a.vocab}, B={a.batch} T={a.seq}, "
          f"{n_params} params, {torch.get_num_threads()} threads; built in {t_init:.2f} s "
          f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})")

    def step():
        x = torch.randint(0, a.vocab, (a.batch, a.seq), generator=data_gen)
        y = torch.randint(0, a.vocab, (a.batch, a.seq), generator=data_gen)
        loss = model(x, y)
        lv = loss.item()
        loss.backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return lv

    t = time.perf_counter()
    loss_first = float("nan")
    for i in range(a.warmup):
        lv = step()
        if i == 0:
            loss_first = lv
    t_warm = time.perf_counter() - t
    best = float("inf")
    t0 = time.perf_counter()
    for _ in range(a.steps):
        ts = time.perf_counter()
        loss_last = step()
        if math.isnan(loss_first):
            loss_first = loss_last
        best = min(best, time.perf_counter() - ts)
    total = time.perf_counter() - t0
    per = total / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"warm-up {a.warmup} steps {t_warm:.2f} s; {a.steps} timed steps {total:.3f} s: {per:.4f} s/step "
          f"(best {best:.4f}), {tokens / per:.0f} tokens/s; loss {loss_first:.4f} -> {loss_last:.4f}; "
          f"peak RSS {rss:.1f} MiB ({rss0:.1f} after import)")
    print(f"RESULT impl=torch name={a.name or a.preset} preset={a.preset} n_layer={a.n_layer} n_head={a.n_head} "
          f"n_embd={a.n_embd} B={a.batch} T={a.seq} threads={torch.get_num_threads()} steps={a.steps} "
          f"tokens_per_s={tokens / per:.1f} s_per_step={per:.5f} best_s_per_step={best:.5f} "
          f"peak_rss_mb={rss:.1f} params={n_params} loss_first={loss_first:.4f} loss_last={loss_last:.4f} "
          f"rss_start_mb={rss0:.1f} init_s={t_init:.3f}")
    return 0 if math.isfinite(loss_last) else 1


if __name__ == "__main__":
    sys.exit(main())
