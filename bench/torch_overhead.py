#!/usr/bin/env python3
"""torch_overhead.py — the PyTorch reference for bench/bench_overhead: y = x + x on a 4-element
float32 tensor, with x requiring grad (the add records an autograd node) and without. A plain
Python loop (`y = x + x` drops the previous y), as a user writes it, so the figure includes the
interpreter's share. Best of 5 runs; 1 thread. Prints the same RESULT lines as bench_overhead:

    /usr/bin/python3 bench/torch_overhead.py [iterations]      (default 200000)
"""
import sys
import time

import torch


def time_add(x, n):
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            y = x + x
        best = min(best, (time.perf_counter() - t0) * 1e9 / n)
    del y
    return best


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(4)
    xg = torch.randn(4, requires_grad=True)
    time_add(xg, n // 10 + 1)  # warm-up
    grad, plain = time_add(xg, n), time_add(x, n)
    print(f"torch {torch.__version__}: y = x + x, 4 floats, best of 5 x {n} ops: {grad:.1f} ns/op with "
          f"autograd recording, {plain:.1f} ns/op without")
    print(f"RESULT impl=torch case=add4_grad ns_per_op={grad:.1f}")
    print(f"RESULT impl=torch case=add4_nograd ns_per_op={plain:.1f}")


if __name__ == "__main__":
    main()
