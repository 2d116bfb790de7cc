#!/usr/bin/env python3
"""Reference values for tests/test_elementwise.c (GELU forward and backward), from PyTorch.

Run: python3 tests/ref_elementwise.py  — paste the output into the test's GELU tables."""
import torch

xs = [-4.0, -2.5, -1.0, -0.5, -1e-3, 0.0, 0.3, 1.0, 1.7, 3.0]
print("static const double gelu_x[] = {%s};" % ", ".join(repr(v) for v in xs))
for approx in ("none", "tanh"):
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.gelu(x, approximate=approx)
    y.sum().backward()
    name = "erf" if approx == "none" else "tanh"
    print("static const double gelu_%s_y[] = {%s};" % (name, ", ".join("%.17g" % v for v in y.tolist())))
    print("static const double gelu_%s_dy[] = {%s};" % (name, ", ".join("%.17g" % v for v in x.grad.tolist())))
print("/* torch %s */" % torch.__version__)
