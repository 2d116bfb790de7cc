#!/usr/bin/env python3
"""torch_llama.py — training throughput of the default char-size LLaMA (dim 128, 4 layers, 4 heads,
hidden 352, vocab 65, T 64, batch 12) in PyTorch 1.13 (tests/ref_llama.py's llama2.c-style model)
against nabla's bench/bench_llama, in interleaved rounds (torch, nabla, torch, ...) so both see the
same machine load; the best round of each is kept. Prints both, the ratio and the CPU model:

    make bench/bench_llama
    /usr/bin/python3 bench/torch_llama.py [bench/bench_llama] [steps] [threads] [rounds] [n_kv_heads]
"""
import os
import platform
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from ref_llama import Transformer  # noqa: E402


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


CONFIG = dict(dim=128, n_layers=4, n_heads=4, n_kv_heads=4, vocab_size=65, multiple_of=32, max_seq_len=64,
              norm_eps=1e-5, rope_theta=10000.0, tie_embeddings=True)


def torch_tps(steps, kvh):
    torch.manual_seed(1337)
    model = Transformer(dict(CONFIG, n_kv_heads=kvh), torch.float32)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    B, T = 12, 64
    t0 = 0.0
    for s in range(steps + 3):
        if s == 3:
            t0 = time.perf_counter()
        x = torch.randint(0, 65, (B, T))
        y = torch.randint(0, 65, (B, T))
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * B * T / (time.perf_counter() - t0)


def nabla_tps(binary, steps, threads, kvh):
    out = subprocess.run([binary, str(steps), str(threads), str(kvh)], check=True, capture_output=True,
                         text=True).stdout
    return float(re.search(r"RESULT impl=nabla case=llama_char tokens_per_s=([0-9.]+)", out).group(1))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "bench/bench_llama"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    kvh = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    torch.set_num_threads(threads)
    t_best, n_best = 0.0, 0.0
    for r in range(rounds):
        t, nb = torch_tps(steps, kvh), nabla_tps(binary, steps, threads, kvh)
        print(f"round {r}: torch {t:.0f} tokens/s, nabla {nb:.0f} tokens/s")
        t_best, n_best = max(t_best, t), max(n_best, nb)
    print(f"CPU: {cpu_model()}; {threads} thread(s); llama char size (n_kv_heads {kvh}), B=12 T=64, float32")
    print(f"torch {torch.__version__}: {t_best:.0f} tokens/s")
    print(f"nabla: {n_best:.0f} tokens/s")
    print(f"ratio nabla/torch tokens/s: {n_best / t_best:.3f}")
    print(f"RESULT impl=torch case=llama_char tokens_per_s={t_best:.1f}")
    print(f"RESULT impl=nabla case=llama_char tokens_per_s={n_best:.1f}")


if __name__ == "__main__":
    main()
