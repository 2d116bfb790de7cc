#!/usr/bin/python3
"""Reference values for tests/test_conv.c from PyTorch 1.13, in float64 and float32.

Run:  /usr/bin/python3 tests/ref_conv.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_conv.py output" and "END ref_conv.py output" in tests/test_conv.c.

Inputs are closed formulas of the flat (row-major) index i, computed in double and rounded to the
dtype (tests/test_conv.c computes the same):
  x[i]  = sin(0.37*i + 0.1) * (1 + 0.1*(i % 5))
  w[i]  = 0.5 * cos(0.23*i + 0.5)
  b[i]  = 0.1*i - 0.2
  dy[i] = cos(0.19*i) - 0.25      (the backward seed: the gradient of sum(y * dy))
  "ties" inputs (pooling only): x[i] = floor(2.5 * sin(0.7*i)) / 2, with many equal values, to
  check that the max routes to the first maximum of each window as torch does.
  "special" inputs (pooling only): the ties values with NaN where i % 9 == 4, else +inf where
  i % 17 == 8, else -inf where (i / 3) % 2 == 1 (integer division: runs of three), to check
  which element torch's max picks among NaNs (the last in window order) and all -inf windows
  (the first in-bounds one).
For each case the script prints y, dx, dweight, dbias (convolution) or y, dx (pooling) for both
dtypes, the max pooling's indices (return_indices=True: int64, the same for both dtypes, checked
here), and one table row with the case's parameters pointing at them. Average pooling cases with a
divisor_override d > 0 use it; the 1-D ones (torch's avg_pool1d has none) are computed as
avg_pool2d over x.unsqueeze(-2) with a (1, k) window, stride (1, s), padding (0, p), squeezed.
Max unpooling cases (UNPOOL) take the indices of a max pooling case (its ref_<case>_idx) and an
input v of their shape, v[i] = x[i] above (the formula), and print y, dv per dtype. They run on one
thread: torch's CPU kernel splits a plane's elements between threads, so a repeated index (the
overlapping windows of the ties cases) has no defined winner with several; on one thread the last
in row-major order wins, which the script checks against a plain loop.
"""
import math
import warnings

import torch
import torch.nn.functional as F


def xval(i, inp):
    if inp == 2:
        if i % 9 == 4:
            return math.nan
        if i % 17 == 8:
            return math.inf
        if (i // 3) % 2 == 1:
            return -math.inf
    if inp:
        return math.floor(2.5 * math.sin(0.7 * i)) / 2
    return math.sin(0.37 * i + 0.1) * (1 + 0.1 * (i % 5))


def tensor(shape, f, dt):
    n = math.prod(shape)
    return torch.tensor([f(i) for i in range(n)], dtype=torch.float64).reshape(shape).to(dt)


def nonfinite(v):
    return "NAN" if math.isnan(v) else "INFINITY" if v > 0 else "-INFINITY"


def f32lit(v):
    if not math.isfinite(v):
        return nonfinite(v)
    s = "%.9g" % v
    return s + (".0f" if "." not in s and "e" not in s else "f")


def fmt(t, dt):
    vals = t.detach().reshape(-1).tolist()
    if dt == torch.float64:
        return "{" + ", ".join(repr(float(v)) if math.isfinite(v) else nonfinite(v) for v in vals) + "}"
    return "{" + ", ".join(f32lit(v) for v in vals) + "}"


def cname(dt):
    return "double" if dt == torch.float64 else "float"


def sfx(dt):
    return "64" if dt == torch.float64 else "32"


def arr(name, t, dt):
    n = max(t.numel(), 1)
    print(f"static const {cname(dt)} {name}[{n}] = {fmt(t, dt) if t.numel() else '{0}'};")


def c_ints(v):
    return "{" + ", ".join(str(int(a)) for a in v) + "}"


# name, nd, x shape, w shape, bias, stride, padding, dilation, groups, same
CONV = [
    ("c2_basic", 2, (2, 3, 5, 6), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1, False),
    ("c2_strided", 2, (2, 4, 6, 7), (6, 2, 3, 2), True, (2, 1), (1, 0), (1, 2), 2, False),
    ("c2_same_even", 2, (1, 2, 5, 6), (3, 2, 2, 4), True, (1, 1), (0, 0), (2, 1), 1, True),
    ("c2_same_dil", 2, (1, 2, 7, 5), (2, 2, 3, 3), False, (1, 1), (0, 0), (2, 2), 1, True),
    ("c2_1x1", 2, (2, 3, 4, 4), (5, 3, 1, 1), False, (1, 1), (0, 0), (1, 1), 1, False),
    ("c2_depthwise", 2, (1, 4, 5, 5), (4, 1, 3, 3), True, (2, 2), (1, 1), (1, 1), 4, False),
    ("c2_big_pad", 2, (1, 1, 3, 3), (2, 1, 3, 3), True, (3, 2), (2, 3), (1, 1), 1, False),
    ("c1_strided", 1, (2, 3, 9), (4, 3, 3), True, (2, 1), (1, 0), (2, 1), 1, False),
    ("c1_same_even", 1, (2, 2, 7), (3, 2, 4), True, (1, 1), (0, 0), (1, 1), 1, True),
    ("c1_groups", 1, (1, 6, 8), (4, 3, 2), False, (1, 1), (1, 0), (1, 1), 2, False),
]

# name, max?, nd, x shape, kernel, stride (None: kernel), padding, dilation, ceil, count_include_pad,
# input (0 formula, 1 ties, 2 special), divisor_override (0: none)
POOL = [
    ("mp2_basic", True, 2, (1, 2, 7, 8), (3, 2), (2, 1), (1, 1), (1, 2), False, True, 0, 0),
    ("mp2_ceil", True, 2, (1, 2, 5, 7), (2, 2), None, (0, 0), (1, 1), True, True, 0, 0),
    ("mp2_ceil_pad", True, 2, (1, 2, 8, 8), (3, 3), (2, 2), (1, 1), (1, 1), True, True, 0, 0),
    ("mp2_ties", True, 2, (2, 2, 6, 6), (3, 3), (1, 2), (1, 1), (1, 1), False, True, 1, 0),
    ("mp1_basic", True, 1, (2, 3, 11), (3,), (2,), (1,), (2,), True, True, 0, 0),
    ("mp1_ties", True, 1, (2, 2, 12), (4,), (1,), (2,), (1,), False, True, 1, 0),
    ("ap2_incl", False, 2, (1, 2, 7, 8), (3, 2), (2, 1), (1, 1), (1, 1), False, True, 0, 0),
    ("ap2_excl_ceil", False, 2, (1, 2, 7, 8), (3, 2), (2, 1), (1, 1), (1, 1), True, False, 0, 0),
    ("ap2_ceil", False, 2, (1, 2, 5, 7), (2, 2), None, (0, 0), (1, 1), True, True, 0, 0),
    ("ap2_ceil_pad", False, 2, (1, 2, 8, 8), (3, 3), (2, 2), (1, 1), (1, 1), True, True, 0, 0),
    ("ap1_incl", False, 1, (2, 3, 11), (3,), (2,), (1,), (1,), True, True, 0, 0),
    ("ap1_excl", False, 1, (2, 3, 11), (4,), (3,), (2,), (1,), True, False, 0, 0),
    # max pooling indices with NaN and -inf; average pooling with divisor_override (issue #15)
    ("mp2_special", True, 2, (2, 2, 6, 6), (2, 2), (1, 1), (1, 1), (1, 1), False, True, 2, 0),
    ("mp2_special_dil", True, 2, (1, 3, 6, 7), (3, 2), (2, 1), (1, 1), (1, 2), True, True, 2, 0),
    ("mp1_special", True, 1, (2, 2, 12), (3,), (1,), (1,), (1,), False, True, 2, 0),
    ("ap2_div_pad", False, 2, (1, 2, 7, 8), (3, 2), (2, 1), (1, 1), (1, 1), False, True, 0, 5),
    ("ap2_div_excl_ceil", False, 2, (1, 2, 7, 8), (3, 2), (2, 1), (1, 1), (1, 1), True, False, 0, 4),
    ("ap2_div_incl_ceil", False, 2, (2, 2, 8, 8), (3, 3), (2, 2), (1, 1), (1, 1), True, True, 0, 7),
    ("ap1_div_excl_ceil", False, 1, (2, 3, 11), (4,), (3,), (2,), (1,), True, False, 0, 3),
    ("ap1_div_incl", False, 1, (2, 3, 11), (3,), (2,), (1,), (1,), False, True, 0, 2),
]

# name, indices from this POOL case, kernel, stride (None: kernel), padding, output_size (None: default)
UNPOOL = [
    ("up2_default", "mp2_ceil", (2, 2), None, (0, 0), None),
    ("up2_ceil_size", "mp2_ceil", (2, 2), None, (0, 0), (5, 7)),
    ("up2_ties", "mp2_ties", (3, 3), (1, 2), (1, 1), (6, 6)),  # overlapping windows: repeated indices
    ("up1_ties", "mp1_ties", (4,), (1,), (2,), None),
    ("up1_geom", "mp1_basic", (3,), (2,), (0,), (11,)),
]


def conv_case(c, dt):
    name, nd, xs, ws, has_b, stride, pad, dil, groups, same = c
    x = tensor(xs, lambda i: xval(i, False), dt).requires_grad_(True)
    w = tensor(ws, lambda i: 0.5 * math.cos(0.23 * i + 0.5), dt).requires_grad_(True)
    b = tensor((ws[0],), lambda i: 0.1 * i - 0.2, dt).requires_grad_(True) if has_b else None
    fn = F.conv2d if nd == 2 else F.conv1d
    st, dl = (stride, dil) if nd == 2 else (stride[0], dil[0])
    padding = "same" if same else (pad if nd == 2 else pad[0])
    y = fn(x, w, b, stride=st, padding=padding, dilation=dl, groups=groups)
    dy = tensor(tuple(y.shape), lambda i: math.cos(0.19 * i) - 0.25, dt)
    (y * dy).sum().backward()
    tag = f"ref_{name}_{sfx(dt)}"
    arr(tag + "_y", y, dt)
    arr(tag + "_dx", x.grad, dt)
    arr(tag + "_dw", w.grad, dt)
    arr(tag + "_db", b.grad if has_b else torch.zeros(0), dt)
    return tuple(y.shape)


def avg_pool(x, nd, k, stride, pad, ceil, incl, div):
    """F.avg_pool*d; a 1-D divisor_override through avg_pool2d on [..., 1, L]."""
    if nd == 2:
        return F.avg_pool2d(x, k, stride=stride, padding=pad, ceil_mode=ceil, count_include_pad=incl,
                            divisor_override=div or None)
    if not div:
        return F.avg_pool1d(x, k, stride=stride, padding=pad, ceil_mode=ceil, count_include_pad=incl)
    st = (1, stride[0]) if stride is not None else None
    y = F.avg_pool2d(x.unsqueeze(-2), (1, k[0]), stride=st, padding=(0, pad[0]), ceil_mode=ceil,
                     count_include_pad=incl, divisor_override=div)
    return y.squeeze(-2)


def pool_case(c, dt):
    """Prints y and dx; returns y's shape and the max pooling's indices (None for average)."""
    name, is_max, nd, xs, k, stride, pad, dil, ceil, incl, inp, div = c
    x = tensor(xs, lambda i: xval(i, inp), dt).requires_grad_(True)
    idx = None
    if is_max:
        fn = F.max_pool2d if nd == 2 else F.max_pool1d
        y, idx = fn(x, k, stride=stride, padding=pad, dilation=dil, ceil_mode=ceil, return_indices=True)
        y0 = fn(x.detach(), k, stride=stride, padding=pad, dilation=dil, ceil_mode=ceil)
        assert torch.equal(y0.isnan(), y.isnan()) and torch.equal(y0.nan_to_num(), y.detach().nan_to_num())
    else:
        y = avg_pool(x, nd, k, stride, pad, ceil, incl, div)
    dy = tensor(tuple(y.shape), lambda i: math.cos(0.19 * i) - 0.25, dt)
    (y * dy).sum().backward()
    tag = f"ref_{name}_{sfx(dt)}"
    arr(tag + "_y", y, dt)
    arr(tag + "_dx", x.grad, dt)
    return tuple(y.shape), idx


def unpool_case(u, dt):
    """Prints y and dv of torch's max_unpool over the POOL case's indices; returns y's shape, v's."""
    name, src, k, stride, pad, osize = u
    c = next(p for p in POOL if p[0] == src)
    _, _, nd, xs, pk, pstride, ppad, pdil, pceil = c[:9]
    x = tensor(xs, lambda i: xval(i, c[10]), torch.float64)
    fn = F.max_pool2d if nd == 2 else F.max_pool1d
    idx = fn(x, pk, stride=pstride, padding=ppad, dilation=pdil, ceil_mode=pceil, return_indices=True)[1]
    v = tensor(tuple(idx.shape), lambda i: xval(i, 0), dt).requires_grad_(True)
    ufn = F.max_unpool2d if nd == 2 else F.max_unpool1d
    y = ufn(v, idx, k, stride=stride, padding=pad, output_size=osize)
    planes = v.detach().reshape(-1, math.prod(v.shape[-nd:]))
    iplanes = idx.reshape(planes.shape)
    want = torch.zeros(planes.shape[0], math.prod(y.shape[-nd:]), dtype=dt)
    for p in range(planes.shape[0]):
        for a, b in zip(planes[p].tolist(), iplanes[p].tolist()):
            want[p, b] = a
    assert torch.equal(want.reshape(y.shape), y.detach()), name  # the last of a repeated index wins
    dy = tensor(tuple(y.shape), lambda i: math.cos(0.19 * i) - 0.25, dt)
    (y * dy).sum().backward()
    tag = f"ref_{name}_{sfx(dt)}"
    arr(tag + "_y", y, dt)
    arr(tag + "_dv", v.grad, dt)
    return tuple(y.shape), tuple(v.shape)


def main():
    warnings.filterwarnings("ignore", message=".*padding='same'.*")
    print(f"/* generated by tests/ref_conv.py with torch {torch.__version__} */")
    rows = []
    for c in CONV:
        for dt in (torch.float64, torch.float32):
            ys = conv_case(c, dt)
        name, nd, xs, ws, has_b, stride, pad, dil, groups, same = c
        refs = ", ".join(f"ref_{name}_{s}_{k}" for s in ("64", "32") for k in ("y", "dx", "dw", "db"))
        rows.append(f'    {{"{name}", {nd}, {c_ints(xs)}, {c_ints(ws)}, {c_ints(ys)}, {int(has_b)}, {c_ints(stride)}, '
                    f"{c_ints(pad)}, {c_ints(dil)}, {groups}, {int(same)},\n     {refs}}},")
    print("static const conv_ref k_conv_refs[] = {")
    print("\n".join(rows))
    print("};")
    rows = []
    for c in POOL:
        res = [pool_case(c, dt) for dt in (torch.float64, torch.float32)]
        ys, idx = res[1][0], [r[1] for r in res]
        name, is_max, nd, xs, k, stride, pad, dil, ceil, incl, inp, div = c
        if is_max:
            assert torch.equal(idx[0], idx[1]), name  # the same argmax in both dtypes
            print(f"static const int64_t ref_{name}_idx[{idx[0].numel()}] = {c_ints(idx[0].reshape(-1).tolist())};")
        st = stride if stride is not None else (0,) * nd
        refs = ", ".join(f"ref_{name}_{s}_{k}" for s in ("64", "32") for k in ("y", "dx"))
        refs += f", ref_{name}_idx" if is_max else ", NULL"
        rows.append(f'    {{"{name}", {int(is_max)}, {nd}, {c_ints(xs)}, {c_ints(ys)}, {c_ints(k)}, {c_ints(st)}, '
                    f"{c_ints(pad)}, {c_ints(dil)}, {int(ceil)}, {int(incl)}, {inp}, {div},\n     {refs}}},")
    print("static const pool_ref k_pool_refs[] = {")
    print("\n".join(rows))
    print("};")
    rows = []
    torch.set_num_threads(1)
    for u in UNPOOL:
        for dt in (torch.float64, torch.float32):
            ys, vs = unpool_case(u, dt)
        name, src, k, stride, pad, osize = u
        st = stride if stride is not None else (0,) * len(k)
        refs = ", ".join(f"ref_{name}_{s}_{k}" for s in ("64", "32") for k in ("y", "dv"))
        rows.append(f'    {{"{name}", {len(k)}, {c_ints(vs)}, {c_ints(ys)}, {c_ints(k)}, {c_ints(st)}, {c_ints(pad)}, '
                    f"{c_ints(osize or (0,))}, {int(osize is not None)},\n     {refs}, ref_{src}_idx}},")
    print("static const unpool_ref k_unpool_refs[] = {")
    print("\n".join(rows))
    print("};")


if __name__ == "__main__":
    main()
