#!/usr/bin/env python3
"""Reference values for tests/test_pointwise.c: every pointwise op of tensor/nb_pointwise.def,
forward and backward, in float32 and float64, from PyTorch.

Run: /usr/bin/python3 tests/ref_pointwise.py — paste the output between the BEGIN/END markers of
tests/test_pointwise.c (the script regenerates it byte-identically).

One row per op: (name, torch function, parameters, inputs, second inputs or None, kind) where kind
is "diff" (forward and gradients checked), "nd" (forward only) or "bool" (bool inputs)."""
import math

import torch
import torch.nn.functional as F

NAN, INF = float("nan"), float("inf")
X = [-3.1, -1.7, -0.6, -1e-3, 0.0, 2e-4, 0.45, 1.3, 2.2, 3.7]   # general
XP = [0.05, 0.3, 0.7, 1.0, 1.6, 2.5, 4.0, 9.0, 30.0, 1e-3]      # positive
XS = [-0.9, -0.5, -0.2, -1e-5, 0.0, 1e-6, 0.1, 0.5, 1.0, 2.0]   # log1p / expm1
XH = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.49999997, 0.49999997, 3.7, -3.2]  # rounding halves
XB = [-2.0, -0.0, 0.0, 1.5, NAN, INF, -INF, 3.0, -7.25, 1e-30]  # specials
B = [0.7, -1.1, 2.3, -0.4, 1.9, 0.25, -2.6, 1.2, -0.8, 3.1]
BP = [0.5, 1.5, -1.0, 2.0, 0.0, -0.5, 3.0, 1.0, -2.0, 0.75]
M1 = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0]
M2 = [0, 1, 0, 1, 1, 1, 0, 0, 1, 0]
G = [0.3, -1.2, 0.8, 1.5, -0.7, 0.2, -2.0, 1.1, 0.6, -0.4]

OPS = [
    # name, function, params, inputs, second inputs, kind
    ("neg", torch.neg, (), X, None, "diff"),
    ("abs", torch.abs, (), X, None, "diff"),
    ("relu", F.relu, (), X, None, "diff"),
    ("add_scalar", lambda t, s: t + s, (0.7,), X, None, "diff"),
    ("mul_scalar", lambda t, s: t * s, (-1.3,), X, None, "diff"),
    ("clamp", torch.clamp, (-0.5, 1.0), X, None, "diff"),
    ("div_scalar", lambda t, s: t / s, (2.5,), X, None, "diff"),
    ("exp", torch.exp, (), X, None, "diff"),
    ("log", torch.log, (), XP, None, "diff"),
    ("sqrt", torch.sqrt, (), XP, None, "diff"),
    ("rsqrt", torch.rsqrt, (), XP, None, "diff"),
    ("tanh", torch.tanh, (), X, None, "diff"),
    ("sigmoid", torch.sigmoid, (), X, None, "diff"),
    ("pow_scalar", torch.pow, (2.5,), XP, None, "diff"),
    ("silu", F.silu, (), X, None, "diff"),
    ("softplus", F.softplus, (1.5, 4.0), X, None, "diff"),
    ("logsigmoid", F.logsigmoid, (), X, None, "diff"),
    ("leaky_relu", F.leaky_relu, (0.1,), X, None, "diff"),
    ("elu", F.elu, (1.3,), X, None, "diff"),
    ("erf", torch.erf, (), X, None, "diff"),
    ("sin", torch.sin, (), X, None, "diff"),
    ("cos", torch.cos, (), X, None, "diff"),
    ("log1p", torch.log1p, (), XS, None, "diff"),
    ("expm1", torch.expm1, (), XS, None, "diff"),
    ("square", torch.square, (), X, None, "diff"),
    ("reciprocal", torch.reciprocal, (), XP, None, "diff"),
    ("add", torch.add, (), X, B, "diff"),
    ("sub", torch.sub, (), X, B, "diff"),
    ("mul", torch.mul, (), X, B, "diff"),
    ("div", torch.div, (), X, B, "diff"),
    ("maximum", torch.maximum, (), X, B, "diff"),
    ("minimum", torch.minimum, (), X, B, "diff"),
    ("pow", torch.pow, (), XP, BP, "diff"),
    ("atan2", torch.atan2, (), X, B, "diff"),
    ("sign", torch.sign, (), XB, None, "nd"),
    ("floor", torch.floor, (), XH, None, "nd"),
    ("ceil", torch.ceil, (), XH, None, "nd"),
    ("round", torch.round, (), XH, None, "nd"),
    ("isnan", torch.isnan, (), XB, None, "nd"),
    ("isfinite", torch.isfinite, (), XB, None, "nd"),
    ("logical_not", torch.logical_not, (), M1, None, "bool"),
    ("logical_and", torch.logical_and, (), M1, M2, "bool"),
    ("logical_or", torch.logical_or, (), M1, M2, "bool"),
]


def c(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return "%.17g" % v


def arr(vs):
    return "{" + ", ".join(c(v) for v in vs) + "}"


def run(fn, params, xs, bs, kind, dt):
    if kind == "bool":
        ins = [torch.tensor(v, dtype=torch.bool) for v in (xs, bs) if v is not None]
        return fn(*ins).tolist(), [], []
    ins = [torch.tensor(v, dtype=dt, requires_grad=kind == "diff") for v in (xs, bs) if v is not None]
    y = fn(*ins, *params)
    if kind != "diff":
        return y.tolist(), [], []
    y.backward(torch.tensor(G, dtype=dt))
    grads = [t.grad.tolist() for t in ins]
    return y.tolist(), grads[0], grads[1] if len(grads) > 1 else []


print("/* BEGIN ref_pointwise.py (torch %s) */" % torch.__version__)
print("static const double k_g[] = %s;" % arr(G))
print("static const pw_ref k_refs[] = {")
for name, fn, params, xs, bs, kind in OPS:
    p = list(params) + [0.0] * (2 - len(params))
    kinds = {"diff": "PW_DIFF", "nd": "PW_ND", "bool": "PW_BOOLIN"}
    print('{"%s", %s, %d, %d, %s, %s, %s, %s,' % (name, kinds[kind], len(params), bs is not None, c(p[0]), c(p[1]),
                                                 arr(xs), arr(bs) if bs is not None else "{0}"))
    for dt in (torch.float32, torch.float64):
        y, da, db = run(fn, params, xs, bs, kind, dt)
        print("  %s{%s, %s, %s}%s" % ("{" if dt == torch.float32 else " ", arr(y), arr(da) if da else "{0}",
                                      arr(db) if db else "{0}", "," if dt == torch.float32 else "}},"))
print("};")
print("/* END ref_pointwise.py */")
