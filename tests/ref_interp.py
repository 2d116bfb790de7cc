#!/usr/bin/python3
"""Reference values for tests/test_interp.c from PyTorch 1.13, in float64 and float32.

Run:  /usr/bin/python3 tests/ref_interp.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_interp.py output" and "END ref_interp.py output" in tests/test_interp.c.

Inputs are closed formulas of the flat (row-major) index i, computed in double and rounded to the
dtype (tests/test_interp.c computes the same):
  x[i]  = sin(0.37*i + 0.1) * (1 + 0.1*(i % 5))
  dy[i] = cos(0.19*i) - 0.25      (the backward seed: the gradient of sum(y * dy))
For each case (F.interpolate with the mode, size or scale_factor, align_corners and
recompute_scale_factor given) the script prints y and dx for both dtypes and one table row with the
case's parameters pointing at them. Nearest cases avoid the sizes where torch 1.13's backward
disagrees with its own forward (out == in or out == 2*in reached through a scale factor other than
1 or 2): the script checks that every nearest dx is the scatter of dy through the forward's indices.
(Its 2-D nearest forward with C == 1 runs the channels-last kernel, which special-cases those sizes
too; the cases here avoid them.)
"""
import math

import torch
import torch.nn.functional as F

MODES = {"nearest": "NB_INTERP_NEAREST", "linear": "NB_INTERP_LINEAR", "bilinear": "NB_INTERP_BILINEAR"}

# name, mode, x shape, size (None), scale (None), align_corners (None for nearest), recompute
CASES = [
    ("n1_size_up", "nearest", (2, 3, 5), (12,), None, None, False),
    ("n1_scale2", "nearest", (2, 2, 5), None, (2.0,), None, False),
    ("n1_scale1_5", "nearest", (1, 2, 7), None, (1.5,), None, False),
    ("n1_down_half", "nearest", (2, 2, 9), None, (0.5,), None, False),
    ("n1_scale0_7", "nearest", (1, 3, 10), None, (0.7,), None, False),
    ("n1_size_down", "nearest", (1, 2, 11), (4,), None, None, False),
    ("n2_size", "nearest", (2, 3, 5, 4), (7, 9), None, None, False),
    ("n2_scale", "nearest", (1, 2, 3, 5), None, (2.0, 1.5), None, False),
    ("n2_down", "nearest", (2, 2, 7, 6), None, (0.5, 0.5), None, False),
    ("n2_recompute", "nearest", (1, 2, 4, 5), None, (1.7, 1.7), None, True),
    ("l1_size_up", "linear", (2, 3, 5), (11,), None, False, False),
    ("l1_size_up_ac", "linear", (2, 3, 5), (11,), None, True, False),
    ("l1_scale1_5", "linear", (1, 2, 7), None, (1.5,), False, False),
    ("l1_down_half", "linear", (2, 2, 9), None, (0.5,), False, False),
    ("l1_scale2_5_ac", "linear", (1, 2, 4), None, (2.5,), True, False),
    ("l1_scale0_3", "linear", (1, 1, 10), None, (0.3,), False, False),
    ("l1_same_size", "linear", (2, 2, 3), None, (1.3,), False, False),
    ("b2_size", "bilinear", (2, 3, 5, 4), (7, 9), None, False, False),
    ("b2_size_ac", "bilinear", (2, 3, 5, 4), (7, 9), None, True, False),
    ("b2_scale2", "bilinear", (1, 2, 3, 5), None, (2.0, 2.0), False, False),
    ("b2_scale_mixed", "bilinear", (2, 2, 6, 9), None, (1.5, 0.5), False, False),
    ("b2_down_ac", "bilinear", (1, 3, 7, 6), None, (0.5, 0.5), True, False),
    ("b2_recompute", "bilinear", (1, 2, 5, 4), None, (1.3, 1.3), False, True),
    ("b2_one_dim_same", "bilinear", (1, 1, 5, 4), (5, 8), None, False, False),
    ("b2_same_h_scale", "bilinear", (1, 2, 3, 4), None, (1.3, 2.0), False, False),
    ("b2_to_1x1", "bilinear", (1, 2, 4, 5), (1, 1), None, False, False),
    ("b2_to_1x1_ac", "bilinear", (1, 2, 4, 5), (1, 1), None, True, False),
]


def tensor(shape, f, dt):
    n = math.prod(shape)
    return torch.tensor([f(i) for i in range(n)], dtype=torch.float64).reshape(shape).to(dt)


def f32lit(v):
    s = "%.9g" % v
    return s + (".0f" if "." not in s and "e" not in s else "f")


def fmt(t, dt):
    vals = t.detach().reshape(-1).tolist()
    if dt == torch.float64:
        return "{" + ", ".join(repr(float(v)) for v in vals) + "}"
    return "{" + ", ".join(f32lit(v) for v in vals) + "}"


def arr(name, t, dt):
    cname = "double" if dt == torch.float64 else "float"
    print(f"static const {cname} {name}[{t.numel()}] = {fmt(t, dt)};")


def c_ints(v):
    return "{" + ", ".join(str(int(a)) for a in v) + "}"


def c_doubles(v):
    return "{" + ", ".join(repr(float(a)) for a in v) + "}"


def nearest_scatter(x, dy, kw):
    """dx as the scatter of dy through the forward's source indices (from an arange input)."""
    src = torch.arange(math.prod(x.shape[2:]), dtype=torch.float64).reshape(1, 1, *x.shape[2:])
    idx = F.interpolate(src, **kw).long().reshape(-1)
    planes = dy.reshape(x.shape[0] * x.shape[1], -1)
    want = torch.zeros(planes.shape[0], math.prod(x.shape[2:]), dtype=dy.dtype)
    want.index_add_(1, idx, planes)
    return want.reshape(x.shape)


def case(c, dt):
    name, mode, xs, size, scale, ac, rec = c
    x = tensor(xs, lambda i: math.sin(0.37 * i + 0.1) * (1 + 0.1 * (i % 5)), dt).requires_grad_(True)
    kw = {"mode": mode, "align_corners": ac}
    if size is not None:
        kw["size"] = size
    else:
        kw["scale_factor"] = scale
        kw["recompute_scale_factor"] = rec
    y = F.interpolate(x, **kw)
    dy = tensor(tuple(y.shape), lambda i: math.cos(0.19 * i) - 0.25, dt)
    (y * dy).sum().backward()
    if mode == "nearest":
        want = nearest_scatter(x, dy, kw)
        assert torch.allclose(want, x.grad, rtol=1e-6, atol=1e-6), name
    tag = f"ref_{name}_{64 if dt == torch.float64 else 32}"
    arr(tag + "_y", y, dt)
    arr(tag + "_dx", x.grad, dt)
    return tuple(y.shape)


def main():
    print(f"/* generated by tests/ref_interp.py with torch {torch.__version__} */")
    rows = []
    for c in CASES:
        ys = [case(c, dt) for dt in (torch.float64, torch.float32)][0]
        name, mode, xs, size, scale, ac, rec = c
        refs = ", ".join(f"ref_{name}_{s}_{k}" for s in ("64", "32") for k in ("y", "dx"))
        rows.append(f'    {{"{name}", {MODES[mode]}, {len(xs)}, {c_ints(xs)}, {c_ints(ys)}, '
                    f"{c_ints(size or (0,))}, {c_doubles(scale or (0,))}, {int(bool(ac))}, {int(rec)},\n"
                    f"     {refs}}},")
    print("static const interp_ref k_interp_refs[] = {")
    print("\n".join(rows))
    print("};")


if __name__ == "__main__":
    main()
