#!/usr/bin/env python3
"""torch_rmsnorm.py — RMSNorm forward + backward on x [768, 128] float32 (weight [128], both
requiring grad): PyTorch 1.13's composed form (it has no F.rms_norm)

    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

against nabla's fused nb_rms_norm (bench/bench_rmsnorm), in interleaved rounds (torch, nabla,
torch, ...) so both see the same machine load. Each round is a best of 5 runs; the figure kept
is the best round. Prints both, the ratio nabla/torch time, and the CPU model:

    make bench/bench_rmsnorm
    /usr/bin/python3 bench/torch_rmsnorm.py [bench/bench_rmsnorm] [iterations] [threads] [rounds]
"""
import platform
import re
import subprocess
import sys
import time

import torch


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_us(n):
    torch.manual_seed(0)
    x = torch.randn(768, 128, requires_grad=True)
    w = torch.rand(128, requires_grad=True)
    dy = torch.randn(768, 128)

    def step():
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
        y.backward(dy)
        x.grad = None
        w.grad = None

    for _ in range(n // 10 + 1):
        step()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, (time.perf_counter() - t0) * 1e6 / n)
    return best


def nabla_us(binary, n, threads):
    out = subprocess.run([binary, str(n), str(threads)], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"RESULT impl=nabla case=rmsnorm_768x128 us_per_iter=([0-9.]+)", out).group(1))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "bench/bench_rmsnorm"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    torch.set_num_threads(threads)
    t_best, n_best = float("inf"), float("inf")
    for r in range(rounds):
        t, nb = torch_us(n), nabla_us(binary, n, threads)
        print(f"round {r}: torch {t:.2f} us/iter, nabla {nb:.2f} us/iter")
        t_best, n_best = min(t_best, t), min(n_best, nb)
    print(f"CPU: {cpu_model()}; {threads} thread(s); rms_norm [768, 128] float32 forward+backward")
    print(f"torch {torch.__version__} (composed): {t_best:.2f} us/iter")
    print(f"nabla (fused nb_rms_norm): {n_best:.2f} us/iter")
    print(f"ratio nabla/torch time: {n_best / t_best:.3f} ({t_best / n_best:.2f}x the speed of torch)")
    print(f"RESULT impl=torch case=rmsnorm_768x128 us_per_iter={t_best:.2f}")
    print(f"RESULT impl=nabla case=rmsnorm_768x128 us_per_iter={n_best:.2f}")


if __name__ == "__main__":
    main()
