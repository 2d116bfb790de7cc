#!/usr/bin/python3
"""Reference bit patterns for tests/test_dtypes.c: bfloat16 and float16 conversions, from PyTorch
1.13 (x.to(torch.bfloat16).view(torch.int16)) and from exact rational arithmetic.

Run:  /usr/bin/python3 tests/ref_dtypes.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_dtypes.py output" and "END ref_dtypes.py output" in tests/test_dtypes.c.

Printed:
  K_VALUES           the inputs as float64 (hex literals): rounding ties, just above/below ties,
                     +-0, +-inf, NaN, subnormals of both formats and of float32, the overflow
                     thresholds, seeded random values of many magnitudes
  K_BF16_FROM_F32 / K_F16_FROM_F32   PyTorch's patterns for each input rounded to float32 first
  K_BF16_FROM_F64 / K_F16_FROM_F64   the correctly rounded (nearest, ties to even) patterns of the
                     float64 input, computed here exactly with fractions; the script checks that
                     they equal PyTorch's for every input float32 holds exactly. (PyTorch 1.13
                     converts float64 through float32, rounding twice: K_DOUBLE_ROUNDED counts the
                     inputs where that gives another pattern, so the set does test it.)
  K_I64 / K_BF16_FROM_I64 / K_F16_FROM_I64   int64 inputs beyond 2^53 and their exact patterns
  K_FNV_*            FNV-1a 64 hashes (over the little-endian bytes) of PyTorch's results for
                     the exhaustive sets: every 16-bit pattern widened to float32
                     (K_FNV_BF16_WIDEN, K_FNV_F16_WIDEN), and every float32 midpoint between
                     adjacent finite values of the format and its two float32 neighbours,
                     both signs (K_FNV_BF16_TIES, K_FNV_F16_TIES; the C test builds the same set).
  K_REPR_*           PyTorch's repr of a few tensors ("torch." removed from the dtype, as nabla
                     prints it)
NaN results are printed as PyTorch gives them; the C test checks NaN-ness and the quiet bit only.

Also, for the safetensors interop test:
  ref_dtypes.py write PATH   writes ST_TENSORS as PyTorch stores them (BF16/F16 data)
  ref_dtypes.py check PATH   reads a file nabla wrote with torch and checks it holds ST_TENSORS
"""
import math
import struct
from fractions import Fraction

import json
import sys

import torch

FORMATS = {"bf16": (8, 7, torch.bfloat16), "f16": (5, 10, torch.float16)}


def exact_bits(x, fmt):
    """Pattern of x rounded to nearest, ties to even (x a float or an int)."""
    ebits, mbits, _ = FORMATS[fmt]
    bias = (1 << (ebits - 1)) - 1
    inf = ((1 << ebits) - 1) << mbits
    if isinstance(x, float) and math.isnan(x):
        return None
    sign = 0x8000 if (math.copysign(1.0, x) < 0 if isinstance(x, float) else x < 0) else 0
    if isinstance(x, float) and math.isinf(x):
        return sign | inf
    a = abs(Fraction(x))
    if a == 0:
        return sign
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    q = max(e, 1 - bias) - mbits  # quantum exponent
    scaled = a / Fraction(2) ** q
    n = math.floor(scaled)
    rem = scaled - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    bits = ((max(e, 1 - bias) + bias - 1) << mbits) + n
    return sign | min(bits, inf)


def torch_bits(vals, fmt, src=torch.float32):
    t = torch.tensor(vals, dtype=src).to(FORMATS[fmt][2]).view(torch.int16)
    return [v & 0xFFFF for v in t.tolist()]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0] if math.isfinite(x) and abs(x) < 3.4e38 else \
        float(torch.tensor([x], dtype=torch.float64).to(torch.float32).item())


def values():
    v = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 0.5, 2.0 ** -1]
    for m in (7, 10):  # ties and their neighbours at 1, 2^10, 2^-10, in both formats
        for base in (1.0, 2.0 ** 10, 2.0 ** -10, 3.0):
            u = base * 2.0 ** -m
            for k in (1, 3, 5, 255):
                t = base + k * u / 2 if base != 3.0 else base + k * u
                v += [t, -t, t + u / 64, t - u / 64, math.nextafter(t, 0), math.nextafter(t, math.inf)]
    # overflow thresholds: the largest finite value, the tie above it, just below the tie
    for emax, mbits in ((127, 7), (15, 10)):
        big = (2 - 2.0 ** -mbits) * 2.0 ** emax
        tie = (2 - 2.0 ** -(mbits + 1)) * 2.0 ** emax
        v += [big, -big, tie, -tie, math.nextafter(tie, 0), math.nextafter(tie, math.inf), 2.0 * 2 ** emax]
    # subnormals: the smallest, half of it (a tie to 0), 3/2 of it (a tie to 2), the top one
    for emin, mbits in ((-126, 7), (-14, 10)):
        q = 2.0 ** (emin - mbits)
        v += [q, -q, q / 2, -q / 2, q * 1.5, q * 2.5, q * 0.75, q / 2 * 1.0001, q * (2 ** mbits - 0.5),
              q * (2 ** mbits - 1), 2.0 ** emin, math.nextafter(2.0 ** emin, 0)]
    v += [1e-40, -1e-40, 2.0 ** -149, 1e-45, 65504.0, 65519.0, 65520.0, 1e5, 3.3895313892515355e38, 1e39]
    # float64-only inputs where going through float32 rounds twice
    v += [1 + 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -11 + 2.0 ** -40, -(1 + 2.0 ** -8 + 2.0 ** -45),
          1 + 3 * 2.0 ** -8 - 2.0 ** -35, 0.1, 1 / 3, math.pi, math.e]
    g = torch.Generator().manual_seed(14)
    r = (torch.rand(120, generator=g, dtype=torch.float64) - 0.5) * 2
    s = torch.randint(-40, 40, (120,), generator=g).to(torch.float64)
    v += (r * torch.pow(2.0, s)).tolist()
    return v


def fnv(values16_or_32, width):
    h = 0xCBF29CE484222325
    for x in values16_or_32:
        for b in (x & ((1 << 8 * width) - 1)).to_bytes(width, "little"):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def widen_hash(fmt):
    pats = torch.arange(65536, dtype=torch.int32).to(torch.int16).view(FORMATS[fmt][2])
    bits = pats.to(torch.float32).view(torch.int32).tolist()
    return fnv(bits, 4)


def ties_inputs(fmt):
    """The float32 bit patterns of every midpoint between adjacent finite non-negative values of fmt
    (and the midpoint between the largest and 2^(emax+1)), with its float32 neighbours; then the
    same negated. Order: pattern h = 0 .. top finite, [mid - 1ulp, mid, mid + 1ulp]."""
    ebits, mbits, dt = FORMATS[fmt]
    top = (((1 << ebits) - 1) << mbits) - 1
    h = torch.arange(top + 1, dtype=torch.int32).to(torch.int16).view(dt).to(torch.float64)
    nxt = torch.cat([h[1:], torch.tensor([2.0 ** ((1 << (ebits - 1)))], dtype=torch.float64)])
    mid = ((h + nxt) / 2).to(torch.float32)  # exact: a midpoint has mbits + 2 significant bits
    mb = mid.view(torch.int32)
    trip = torch.stack([mb - 1, mb, mb + 1], dim=1).reshape(-1)
    trip = trip[trip >= 0]  # the neighbour below 0's midpoint would be -0 - ... : skip it
    allb = torch.cat([trip, trip | torch.tensor(-2 ** 31, dtype=torch.int32)])
    return allb.view(torch.float32)


def ties_hash(fmt):
    out = ties_inputs(fmt).to(FORMATS[fmt][2]).view(torch.int16).tolist()
    return fnv(out, 2), len(out)


def carr(name, ctype, items, per=8):
    print(f"static const {ctype} {name}[] = {{")
    for i in range(0, len(items), per):
        print("    " + ", ".join(items[i:i + per]) + ",")
    print("};")


def hexf(x):
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    return x.hex()


def pat(b):
    return "0x%04x" % b


def main():
    v = values()
    carr("K_VALUES", "double", [hexf(x) for x in v], 4)
    double_rounded = 0
    for fmt in FORMATS:
        from32 = torch_bits(v, fmt)
        from64_torch = torch_bits(v, fmt, torch.float64)
        exact = []
        for x, t32, t64 in zip(v, from32, from64_torch):
            e = exact_bits(x, fmt)
            x32 = f32(x)
            if e is None:
                e = t64
            elif x32 == x or (math.isinf(x32) and math.isinf(x)):
                assert e == t32 == t64, (fmt, x, e, t32, t64)
            else:
                double_rounded += e != t64
            exact.append(e)
        carr(f"K_{fmt.upper()}_FROM_F32", "uint16_t", [pat(b) for b in from32])
        carr(f"K_{fmt.upper()}_FROM_F64", "uint16_t", [pat(b) for b in exact])
    print(f"#define K_DOUBLE_ROUNDED {double_rounded}")
    ints = [2 ** 53 + 1, 2 ** 60 + 2 ** 52 + 1, -(2 ** 60 + 2 ** 52), 2 ** 62 + 2 ** 54 + 2 ** 53 - 1,
            2 ** 63 - 1, -2 ** 63, 65519, 65520, 300, -257, 2 ** 24 + 1, 12345678901]
    carr("K_I64", "int64_t", ["INT64_C(%d)" % i if i != -2 ** 63 else "INT64_MIN" for i in ints], 3)
    for fmt in FORMATS:
        carr(f"K_{fmt.upper()}_FROM_I64", "uint16_t", [pat(exact_bits(i, fmt)) for i in ints])
    for fmt in FORMATS:
        print(f"#define K_FNV_{fmt.upper()}_WIDEN UINT64_C(0x{widen_hash(fmt):016x})")
        hsh, n = ties_hash(fmt)
        print(f"#define K_FNV_{fmt.upper()}_TIES UINT64_C(0x{hsh:016x})")
        print(f"#define K_N_{fmt.upper()}_TIES {n}")


REPRS = [  # (C name, the tensor)
    ("K_REPR_BF16", lambda: torch.tensor([1.1, -2.5, 3.0], dtype=torch.bfloat16)),
    ("K_REPR_F16", lambda: torch.tensor([[1.0, 2.0], [65504.0, -0.0]], dtype=torch.float16)),
    ("K_REPR_F16_NAN", lambda: torch.tensor([1e-3, 1e4, math.nan], dtype=torch.float16)),
    ("K_REPR_BF16_SCALAR", lambda: torch.tensor(2.5, dtype=torch.bfloat16)),
]


def print_reprs():
    for name, make in REPRS:
        r = repr(make()).replace("dtype=torch.", "dtype=")
        print(f"#define {name} " + json.dumps(r))


# safetensors interop: the tensors (name, safetensors dtype, shape, values), values as PyTorch rounds
ST_TENSORS = [
    ("b", "BF16", [2, 3], [1.0, -3.5, 2.0 ** 100, 1.1, -1e-40, math.inf]),
    ("h", "F16", [4], [0.5, -2.0, 65504.0, 2.0 ** -24]),
    ("x", "F32", [2], [0.25, -8.0]),
]
ST_DT = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def st_write(path):
    header, blobs, off = {}, [], 0
    for name, dt, shape, vals in ST_TENSORS:
        b = torch.tensor(vals, dtype=torch.float64).to(ST_DT[dt]).reshape(shape).contiguous()
        raw = b.view(torch.uint8).numpy().tobytes() if b.numel() else b""
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def st_check(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    for name, dt, shape, vals in ST_TENSORS:
        e = header[name]
        assert e["dtype"] == dt and e["shape"] == shape, (name, e)
        b, end = e["data_offsets"]
        got = torch.frombuffer(bytearray(body[b:end]), dtype=ST_DT[dt]).reshape(shape)
        want = torch.tensor(vals, dtype=torch.float64).to(ST_DT[dt]).reshape(shape)
        assert torch.equal(got.view(torch.uint8), want.view(torch.uint8)), (name, got, want)
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("write", "check"):
        (st_write if sys.argv[1] == "write" else st_check)(sys.argv[2])
    else:
        main()
        print_reprs()
