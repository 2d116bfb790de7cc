#!/usr/bin/env python3
"""torch_train.py — the PyTorch reference for bench/bench_train: the same GPT, step and output.

The model is tests/ref_gpt.py (nanoGPT's model.py; also the parity test's): dropout 0, bias False,
tied wte/lm_head, tanh GELU (nabla's default; --gelu erf for nanoGPT's current one), the explicit
causal attention of nanoGPT's slow path (PyTorch 1.13 has no scaled_dot_product_attention). Each step: forward, mean cross-entropy, backward, clip_grad_norm_
(1.0), AdamW (lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on >= 2-D params), zero_grad(set_to_none)
on random token ids from a seeded generator. Prints the same RESULT line as bench_train:

    /usr/bin/python3 bench/torch_train.py --preset char --threads 1

--threads N calls torch.set_num_threads(N); OpenBLAS's own thread count is its environment's
(bench/run.sh sets OPENBLAS_NUM_THREADS=N alongside). --threads 0 leaves both as PyTorch picks.
--bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16) (nanoGPT's
dtype='bfloat16': bf16 matmuls, fp32 master weights and optimizer), for CPUs with bf16 support.
"""
import contextlib
import argparse
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from ref_gpt import GPT  # noqa: E402  (nanoGPT's model, shared with the parity test)

PRESETS = {
    "char": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab=65, batch=12, seq=64),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab=50257, batch=4, seq=64),
}


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
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', torch.bfloat16) forward")
    a = ap.parse_args()
    for k, v in PRESETS[a.preset].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.seq > a.block_size or a.n_embd % a.n_head:
        sys.exit("torch_train.py: need seq <= block_size and n_embd divisible by n_head")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    torch.manual_seed(a.seed)
    t_init = time.perf_counter()
    model = GPT(a.vocab, a.block_size, a.n_layer, a.n_head, a.n_embd, False, a.gelu)
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
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}{', bf16 autocast' if a.bf16 else ''})")

    def step():
        x = torch.randint(0, a.vocab, (a.batch, a.seq), generator=data_gen)
        y = torch.randint(0, a.vocab, (a.batch, a.seq), generator=data_gen)
        with (torch.autocast("cpu", dtype=torch.bfloat16) if a.bf16 else contextlib.nullcontext()):
            loss = model(x, y)
        lv = loss.float().item()
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
          f"rss_start_mb={rss0:.1f} init_s={t_init:.3f} bf16={int(a.bf16)}")
    return 0 if math.isfinite(loss_last) else 1


if __name__ == "__main__":
    sys.exit(main())
