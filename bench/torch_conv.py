#!/usr/bin/env python3
"""torch_conv.py — the PyTorch reference for bench/bench_conv: conv2d forward and forward +
backward on x [32, 64, 32, 32], weight [64, 64, 3, 3], bias [64], padding 1, float32, with
torch.set_num_threads(threads). PyTorch 1.13 on CPU runs this through oneDNN (mkldnn) when it is
built in (torch.backends.mkldnn.is_available()); the script reports which. Best of `reps` after a
warm-up, phases interleaved; wall time (ms) and process CPU time (cpu_ms, all threads). Prints the
same RESULT lines as bench_conv:

    /usr/bin/python3 bench/torch_conv.py [threads] [reps] [mkldnn]   (defaults 2, 5, 1)

mkldnn 0 turns oneDNN off (torch.backends.mkldnn.enabled = False): PyTorch then uses its own
im2col + BLAS convolution (OpenBLAS in Debian's build), to see which of its paths is faster here.
"""
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    mkldnn = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.backends.mkldnn.enabled = bool(mkldnn)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    b = torch.randn(64, requires_grad=True)
    g = torch.randn(32, 64, 32, 32)

    def step(bwd):
        t0, c0 = time.perf_counter(), time.process_time()
        if bwd:
            y = F.conv2d(x, w, b, padding=1)
            y.backward(g)
        else:
            with torch.no_grad():
                y = F.conv2d(x, w, b, padding=1)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        x.grad = w.grad = b.grad = None
        return t, c

    step(True)
    best = {"fwd": (float("inf"), float("inf")), "fwdbwd": (float("inf"), float("inf"))}
    for _ in range(reps):
        for case in ("fwd", "fwdbwd"):
            t, c = step(case == "fwdbwd")
            best[case] = (min(best[case][0], t), min(best[case][1], c))
    print(f"# torch {torch.__version__}, mkldnn available {torch.backends.mkldnn.is_available()}, "
          f"enabled {torch.backends.mkldnn.enabled}, threads {torch.get_num_threads()}", file=sys.stderr)
    for case, (t, c) in best.items():
        print(f"RESULT impl=torch threads={threads} mkldnn={mkldnn} case={case} ms={t * 1e3:.2f} cpu_ms={c * 1e3:.2f}")


if __name__ == "__main__":
    main()
