#!/usr/bin/python3
"""Reference values for tests/test_scan.c from PyTorch 1.13, in float32 and float64.

Run:  /usr/bin/python3 tests/ref_scan.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_scan.py output" and "END ref_scan.py output" in tests/test_scan.c.

Inputs are closed formulas of the row-major element index i (the C side computes the same ones,
in double, then converts to the case's dtype):
  kind 0  1.5*sin(0.9*i + 0.4)                          (distinct values)
  kind 1  0 where i % 4 == 1, else kind 0                (zeros)
  kind 2  (7*i) % 5 - 2                                  (ties: integers -2..2)
  kind 3  0 where (i // 4) % 2 == 0, else kind 0         (rows of 4 zeros)
  kind 4  (3*i) % 5, int64                               (class indices)
The output gradient of a differentiable case is cos(0.37*i + 0.1) over the output's elements.
Each case prints the output, the input gradient and the int64 indices where the op has them.
"""
import math

import torch
import torch.nn.functional as F

LA = torch.linalg


def value(kind, i):
    s = 1.5 * math.sin(0.9 * i + 0.4)
    if kind == 0:
        return s
    if kind == 1:
        return 0.0 if i % 4 == 1 else s
    if kind == 2:
        return float((7 * i) % 5 - 2)
    if kind == 3:
        return 0.0 if (i // 4) % 2 == 0 else s
    return float((3 * i) % 5)


def sorted_pair(r):
    return r.values, r.indices


# (name, input shape or None, kind, function of the input -> output or (output, indices))
CASES = [
    ("cumsum_d1", [3, 4], 0, lambda x: x.cumsum(1)),
    ("cumsum_d0", [2, 3, 4], 0, lambda x: x.cumsum(0)),
    ("cumsum_neg", [2, 3, 4], 0, lambda x: x.cumsum(-1)),
    ("cumsum_int", [5], 4, lambda x: x.cumsum(0)),
    ("cumprod_d1_zeros", [3, 4], 1, lambda x: x.cumprod(1)),
    ("cumprod_d0_zeros", [4, 3], 1, lambda x: x.cumprod(0)),
    ("cumprod_two_zeros", [6], 1, lambda x: x.cumprod(0)),
    ("cumprod_smooth", [2, 5], 0, lambda x: x.cumprod(1)),
    ("prod_d1", [3, 4], 1, lambda x: x.prod(1)),
    ("prod_d0_keep", [3, 4], 1, lambda x: x.prod(0, keepdim=True)),
    ("prod_all", [2, 3], 0, lambda x: x.prod()),
    ("prod_all_zero", [5], 1, lambda x: x.prod()),
    ("prod_all_two_zeros", [6], 1, lambda x: x.prod()),
    ("amax_d1", [3, 4], 2, lambda x: x.amax(1)),
    ("amax_02_keep", [2, 3, 4], 2, lambda x: x.amax((0, 2), keepdim=True)),
    ("amax_all", [3, 4], 2, lambda x: x.amax((0, 1))),
    ("amin_d0", [3, 4], 2, lambda x: x.amin(0)),
    ("argmax_d1", [3, 4], 2, lambda x: x.argmax(1)),
    ("argmin_d0_keep", [3, 4], 2, lambda x: x.argmin(0, keepdim=True)),
    ("norm1_d1", [3, 4], 3, lambda x: LA.vector_norm(x, 1, dim=1)),
    ("norm2_d1", [3, 4], 3, lambda x: LA.vector_norm(x, 2, dim=1)),
    ("norm2_02_keep", [2, 3, 4], 0, lambda x: LA.vector_norm(x, 2, dim=(0, 2), keepdim=True)),
    ("norminf_all", [3, 4], 2, lambda x: LA.vector_norm(x, math.inf)),
    ("norminf_d1", [3, 4], 0, lambda x: LA.vector_norm(x, math.inf, dim=1)),
    ("sort_d1", [3, 5], 0, lambda x: sorted_pair(torch.sort(x, dim=1, stable=True))),
    ("sort_d0_desc_ties", [4, 3], 2, lambda x: sorted_pair(torch.sort(x, dim=0, descending=True, stable=True))),
    ("sort_ties", [3, 5], 2, lambda x: sorted_pair(torch.sort(x, dim=1, stable=True))),
    ("argsort_ties", [3, 5], 2, lambda x: torch.sort(x, dim=1, stable=True).indices),
    ("topk_d1", [3, 5], 0, lambda x: sorted_pair(torch.topk(x, 2, dim=1))),
    ("topk_d0_small", [4, 3], 0, lambda x: sorted_pair(torch.topk(x, 3, dim=0, largest=False))),
    ("all_d1", [3, 4], 3, lambda x: torch.all(x, 1)),
    ("any_d0_keep", [3, 4], 3, lambda x: torch.any(x, 0, keepdim=True)),
    ("all_all", [3, 4], 0, lambda x: torch.all(x)),
    ("any_all", [3, 4], 3, lambda x: torch.any(x)),
    ("linspace_a", None, 0, lambda dt: torch.linspace(-1, 2, 7, dtype=dt)),
    ("linspace_b", None, 0, lambda dt: torch.linspace(3, -2, 10, dtype=dt)),
    ("linspace_1", None, 0, lambda dt: torch.linspace(0.5, 9, 1, dtype=dt)),
    ("linspace_int", None, 0, lambda dt: torch.linspace(0, 10, 4, dtype=torch.int64)),
    ("outer", [7], 0, lambda x: torch.outer(x[:3], x[3:])),
    ("one_hot_infer", [2, 3], 4, lambda x: F.one_hot(x)),
    ("one_hot_c6", [4], 4, lambda x: F.one_hot(x, 6)),
    ("pad_const", [2, 3], 0, lambda x: F.pad(x, (1, 2), value=0.5)),
    ("pad_const_2d", [2, 3, 4], 0, lambda x: F.pad(x, (1, 0, 2, 1), value=-1.0)),
    ("pad_crop", [2, 5], 0, lambda x: F.pad(x, (-1, 2))),
    ("pad_reflect", [2, 5], 0, lambda x: F.pad(x, (2, 3), mode="reflect")),
    ("pad_reflect_2d", [2, 3, 4], 0, lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect")),
    ("repeat_a", [2, 3], 0, lambda x: x.repeat(2, 1, 2)),
    ("repeat_b", [3], 0, lambda x: x.repeat(2, 2)),
    ("flip_02", [2, 3, 4], 0, lambda x: x.flip((0, 2))),
    ("flip_last", [3, 4], 0, lambda x: x.flip(-1)),
    ("roll_2d", [3, 4], 0, lambda x: x.roll((1, -2), (0, 1))),
    ("roll_flat", [3, 4], 0, lambda x: x.roll(5)),
    ("roll_d2", [2, 3, 4], 0, lambda x: x.roll(-3, 2)),
]


def fmt(vals, f32):
    out = []
    for v in vals:
        v = float(v)
        out.append("NAN" if math.isnan(v) else ("%.9g" % v if f32 else repr(v)))
    return "{" + ", ".join(out) + "}"


def run(case, dt):
    name, shape, kind, fn = case
    if shape is None:
        out = fn(dt)
        return out, None, None, list(out.shape)
    n = math.prod(shape)
    xv = [value(kind, i) for i in range(n)]
    if kind == 4:
        x = torch.tensor(xv, dtype=torch.int64).reshape(shape)
    else:
        x = torch.tensor(xv, dtype=dt).reshape(shape).requires_grad_(True)
    r = fn(x)
    out, idx = (r if isinstance(r, tuple) else (r, None))
    grad = None
    if out.is_floating_point() and out.requires_grad:
        g = torch.tensor([math.cos(0.37 * i + 0.1) for i in range(out.numel())], dtype=dt).reshape(out.shape)
        out.backward(g)
        grad = x.grad.reshape(-1).tolist()
    return out.detach(), grad, idx, list(out.shape)


def main():
    print(f"/* generated by tests/ref_scan.py with torch {torch.__version__} */")
    rows = []
    for c, case in enumerate(CASES):
        name, shape, kind = case[0], case[1], case[2]
        fields = {"out": ["NULL", "NULL"], "grad": ["NULL", "NULL"], "idx": "NULL"}
        for d, dt in enumerate((torch.float32, torch.float64)):
            out, grad, idx, oshape = run(case, dt)
            f32 = d == 0 and out.is_floating_point()
            tag = ("f32", "f64")[d]
            print(f"static const double ref{c}_{tag}_out[] = {fmt(out.reshape(-1).tolist() or [0], f32)};")
            fields["out"][d] = f"ref{c}_{tag}_out"
            if grad is not None:
                print(f"static const double ref{c}_{tag}_grad[] = {fmt(grad or [0], f32)};")
                fields["grad"][d] = f"ref{c}_{tag}_grad"
            if idx is not None and d == 1:
                print(f"static const double ref{c}_idx[] = {fmt(idx.reshape(-1).tolist(), False)};")
                fields["idx"] = f"ref{c}_idx"
        sh = shape or []
        rows.append(f'    {{"{name}", {kind if shape else -1}, {len(sh)}, {{{", ".join(map(str, sh)) or "0"}}}, '
                    f'{len(oshape)}, {{{", ".join(map(str, oshape)) or "0"}}}, '
                    f'{{{fields["out"][0]}, {fields["out"][1]}}}, {{{fields["grad"][0]}, {fields["grad"][1]}}}, '
                    f'{fields["idx"]}}},')
    print("static const ref_case k_refs[] = {")
    print("\n".join(rows))
    print("};")


if __name__ == "__main__":
    main()
