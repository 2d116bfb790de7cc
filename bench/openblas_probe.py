#!/usr/bin/env python3
"""openblas_probe.py — which OpenBLAS kernel PyTorch runs under this environment, and its speed.

Prints one line: RESULT corename=<what openblas_get_corename() reports> gflops=<float32 1024^3
torch.mm on one thread, best of 5>. bench/run.sh runs it under each candidate OPENBLAS_CORETYPE
(OpenBLAS reads the variable once, when it is loaded, hence one process per candidate) and gives
PyTorch the fastest: Debian's OpenBLAS 0.3.21 does not know recent CPUs and otherwise falls back to
an old kernel.
"""
import ctypes
import ctypes.util
import time

import torch


def corename():
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def main():
    torch.set_num_threads(1)
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    print(f"RESULT corename={corename()} gflops={2 * n ** 3 / best / 1e9:.1f}")


if __name__ == "__main__":
    main()
