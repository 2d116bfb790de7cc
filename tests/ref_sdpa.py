#!/usr/bin/python3
"""Reference values for tests/test_sdpa.c (nb_scaled_dot_product_attention with an attention mask
and dropout) from PyTorch 1.13, in float32 and float64.

Run:  /usr/bin/python3 tests/ref_sdpa.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_sdpa.py output" and "END ref_sdpa.py output" in tests/test_sdpa.c.

PyTorch 1.13 has no F.scaled_dot_product_attention, so the reference is its documented math:
    S = q k^T * scale + mask (bool mask: -inf where false; is_causal: -inf where j > i + Tk - Tq)
    P = softmax(S, -1);  P = P * keep / (1 - p) with dropout;  out = P v
with one documented difference: a row whose keys are all masked gives P = 0 (torch gives NaN).

Every input is a closed formula of the flat (row-major) index k, so the C side rebuilds it:
  fs(shape, a, b, c, d)[k] = a * sin(b * k + c) + d
  bool masks: bm(shape, m, r)[k] = (k % m) != r           (true: the key takes part)
  float masks: fs(...) with -inf where k % 7 == 3 (when the case says so)
The dropout keep flags are the C library's generator stream (xoshiro256** seeded by splitmix64,
nb_generator_uniform = (next >> 11) * 2^-53), reproduced below: element k of the [B, H, Tq, Tk]
probabilities is kept when the k-th uniform drawn after nb_generator_seed(seed) is >= p, as
nb_dropout draws. Each case prints ref_<case>[2][L]: row 0 torch in float32, row 1 in float64; a
row is the output, then the gradient of each differentiable input (in the order listed),
flattened, with the output's gradient dy = fs(out shape, 1, 0.37, 0.5, 0).
"""
import math

import torch

DTYPES = (torch.float32, torch.float64)
M64 = (1 << 64) - 1


def fs(shape, a, b, c, d, dt):
    n = math.prod(shape)
    return torch.tensor([a * math.sin(b * k + c) + d for k in range(n)], dtype=torch.float64).to(dt).reshape(shape)


def fs_inf(shape, a, b, c, d, dt):
    t = fs(shape, a, b, c, d, torch.float64).reshape(-1)
    t[torch.arange(t.numel()) % 7 == 3] = -math.inf
    return t.to(dt).reshape(shape)


def bm(shape, m, r):
    n = math.prod(shape)
    return torch.tensor([(k % m) != r for k in range(n)], dtype=torch.bool).reshape(shape)


def uniforms(seed, n):
    """n draws of nb_generator_uniform after nb_generator_seed(seed)"""
    x, s = seed, []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        s.append(z ^ (z >> 31))

    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & M64

    out = []
    for _ in range(n):
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        out.append((result >> 11) * 2.0**-53)
    return out


def keep_flags(shape, p, seed):
    return torch.tensor([u >= p for u in uniforms(seed, math.prod(shape))], dtype=torch.bool).reshape(shape)


def sdpa_ref(q, k, v, mask=None, p=0.0, causal=False, scale=None, seed=0):
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    scale = 1 / math.sqrt(D) if scale is None else scale
    s = (q @ k.transpose(-2, -1)) * scale
    allowed = torch.ones(B, H, Tq, Tk, dtype=torch.bool)
    if causal:
        i = torch.arange(Tq).view(-1, 1)
        j = torch.arange(Tk).view(1, -1)
        allowed = allowed & (j <= i + (Tk - Tq))
    if mask is not None and mask.dtype == torch.bool:
        allowed = allowed & mask.expand(B, H, Tq, Tk)
    elif mask is not None:
        s = s + mask
        allowed = allowed & (mask != -math.inf).expand(B, H, Tq, Tk)
    s = s.masked_fill(~allowed, -math.inf)
    row = allowed.any(-1, keepdim=True)
    s = torch.where(row, s, torch.zeros((), dtype=s.dtype))  # an empty row: P = 0, not NaN
    pr = torch.softmax(s, -1) * row
    if p > 0:
        keep = keep_flags((B, H, Tq, Tk), p, seed)
        pr = pr * (keep.to(pr.dtype) * torch.tensor(1 / (1 - p), dtype=pr.dtype))
    return pr @ v


def fmt(vals):
    return "{" + ", ".join(repr(float(v)) for v in vals) + "}"


def emit(name, comment, rows):
    print(f"/* {comment} */")
    print(f"static const double ref_{name}[2][{len(rows[0])}] = {{")
    for r in rows:
        print(f"    {fmt(r)},")
    print("};")


def run(fn, make_inputs):
    rows = []
    for dt in DTYPES:
        ins = make_inputs(dt)
        for t, diff in ins:
            if diff:
                t.requires_grad_(True)
        out = fn(*[t for t, _ in ins])
        out.backward(fs(out.shape, 1, 0.37, 0.5, 0, dt))
        row = out.detach().reshape(-1).tolist()
        for t, diff in ins:
            if diff:
                row += t.grad.reshape(-1).tolist()
        rows.append(row)
    return rows


def qkv(dt, B, H, Tq, Tk, D, Dv):
    return [(fs((B, H, Tq, D), 1.5, 0.37, 0.1, 0, dt), True), (fs((B, H, Tk, D), 1.2, 0.53, 0.7, 0.1, dt), True),
            (fs((B, H, Tk, Dv), 1.0, 0.29, 0.3, -0.2, dt), True)]


def main():
    print(f"/* generated by tests/ref_sdpa.py with torch {torch.__version__} */")
    emit("bool", "q [2, 2, 3, 4] fs(1.5, 0.37, 0.1, 0), k [2, 2, 5, 4] fs(1.2, 0.53, 0.7, 0.1), v [2, 2, 5, 3] "
         "fs(1, 0.29, 0.3, -0.2), bool mask [3, 5] bm(3, 0), default scale: out, dq, dk, dv",
         run(lambda q, k, v: sdpa_ref(q, k, v, mask=bm((3, 5), 3, 0)), lambda dt: qkv(dt, 2, 2, 3, 5, 4, 3)))
    emit("float", "the same q, k, v, float mask [2, 1, 3, 5] fs(0.8, 0.71, 0.2, 0) with -inf at k % 7 == 3, "
         "scale 0.6: out, dq, dk, dv, dmask",
         run(lambda q, k, v, m: sdpa_ref(q, k, v, mask=m, scale=0.6),
             lambda dt: qkv(dt, 2, 2, 3, 5, 4, 3) + [(fs_inf((2, 1, 3, 5), 0.8, 0.71, 0.2, 0, dt), True)]))
    emit("causal", "the same q, k, v, is_causal (Tq 3 < Tk 5: bottom-right aligned), scale 0.6: out, dq, dk, dv",
         run(lambda q, k, v: sdpa_ref(q, k, v, causal=True, scale=0.6), lambda dt: qkv(dt, 2, 2, 3, 5, 4, 3)))
    emit("empty", "q [1, 2, 4, 3], k [1, 2, 4, 3], v [1, 2, 4, 2] (the same formulas), bool mask [1, 2, 4, 4] "
         "bm(5, 1) with row (0, 1, 2) all false: out, dq, dk, dv",
         run(lambda q, k, v: sdpa_ref(q, k, v, mask=empty_mask()), lambda dt: qkv(dt, 1, 2, 4, 4, 3, 2)))
    emit("drop_causal", "q, k [2, 2, 4, 4], v [2, 2, 4, 3] (the same formulas), is_causal, dropout 0.3 seed 99: "
         "out, dq, dk, dv",
         run(lambda q, k, v: sdpa_ref(q, k, v, p=0.3, causal=True, seed=99), lambda dt: qkv(dt, 2, 2, 4, 4, 4, 3)))
    emit("drop_float", "the q, k, v of the bool case, float mask [3, 5] fs(0.5, 1.3, 0, 0.1), dropout 0.25 "
         "seed 7: out, dq, dk, dv, dmask",
         run(lambda q, k, v, m: sdpa_ref(q, k, v, mask=m, p=0.25, seed=7),
             lambda dt: qkv(dt, 2, 2, 3, 5, 4, 3) + [(fs((3, 5), 0.5, 1.3, 0, 0.1, dt), True)]))


def empty_mask():
    m = bm((1, 2, 4, 4), 5, 1)
    m[0, 1, 2, :] = False
    return m


if __name__ == "__main__":
    main()
