#!/usr/bin/env python3
"""Reference values for tests/test_tensor.c (run with PyTorch 1.13: python3 tests/ref_tensor.py).

1. The repr strings of the printing tests, as PyTorch prints them, turned into C string literals.
   nabla writes dtypes without the "torch." prefix ("dtype=float64"), so the prefix is dropped and
   the suffixes are re-wrapped at 80 columns as torch/_tensor_str.py's _add_suffixes would do with
   the shorter text.
2. The first values of nabla's generator for seed 1337 (xoshiro256** seeded by splitmix64),
   computed here independently of the C code.
"""
import re
import torch

M64 = (1 << 64) - 1


def add_suffixes(body, suffixes, indent=7, linewidth=80):
    out = [body]
    last = len(body) - body.rfind('\n') + 1
    for s in suffixes:
        if last + len(s) + 2 > linewidth:
            out.append(',\n' + ' ' * indent + s)
            last = indent + len(s)
        else:
            out.append(', ' + s)
            last += len(s) + 2
    return ''.join(out) + ')'


def nabla_repr(t):
    r = repr(t)
    # split PyTorch's suffixes off and re-add them with nabla's shorter dtype names
    m = re.match(r'(?s)(tensor\(.*?[\])0-9.a-z])((?:,\s*(?:size|dtype|requires_grad)=[^,]*?(?:\([^)]*\))?)*)\)$', r)
    body, tail = m.group(1), m.group(2)
    suffixes = [s.strip().replace('torch.', '') for s in re.findall(r',\s*((?:size|dtype|requires_grad)=(?:\([^)]*\)|[^,]*))', tail)]
    return add_suffixes(body, suffixes)


def c_literal(s):
    lines = s.split('\n')
    parts = ['"' + l.replace('\\', '\\\\').replace('"', '\\"') + ('\\n"' if i < len(lines) - 1 else '"')
             for i, l in enumerate(lines)]
    return '\n     '.join(parts)


nan, inf = float('nan'), float('inf')
CASES = [
    ('matrix', torch.tensor([[1.0, 2.5], [3.0, 4.0]])),
    ('integral floats', torch.tensor([1.0, 2.0, 3.0])),
    ('negative zero', torch.tensor([-0.0, 1.0])),
    ('alignment', torch.tensor([[-1.25, 10.5], [100.0, 0.0]])),
    ('sci by ratio', torch.tensor([1e5, 1.0])),
    ('sci by small min', torch.tensor([1e-5, 1.0])),
    ('sci by max > 1e8', torch.tensor([1e9])),
    ('int64', torch.tensor([1, -20, 300])),
    ('int32', torch.tensor([[7, -8], [9, 10]], dtype=torch.int32)),
    ('float64', torch.tensor([0.5, -1.0], dtype=torch.float64)),
    ('bool', torch.tensor([True, False, True])),
    ('0-dim float', torch.tensor(3.5)),
    ('0-dim int64', torch.tensor(7)),
    ('0-dim float64', torch.tensor(-2.0, dtype=torch.float64)),
    ('zero-size 2-D', torch.zeros(0, 3)),
    ('zero-size 1-D', torch.zeros(0)),
    ('zero-size int32', torch.zeros(0, dtype=torch.int32)),
    ('zero-size int64 2-D', torch.zeros(2, 0, dtype=torch.int64)),
    ('nan and inf', torch.tensor([1.5, nan, -inf])),
    ('nan in int mode', torch.tensor([nan, 1.0, inf])),
    ('only zeros', torch.zeros(2)),
    ('3-D', torch.arange(8.0).reshape(2, 2, 2)),
    ('wrapped row', torch.arange(30.0)),
    ('wrapped dtype suffix', torch.arange(7.0, dtype=torch.float64).reshape(1, 7) * 1000.5),
    ('suffix on its own line', torch.arange(6.0, dtype=torch.float64) * 1000.5 + 1000.25),
    ('requires grad after dtype', torch.arange(4.0, dtype=torch.float64).requires_grad_() * 1 if False else torch.tensor([1.5, 2.0], dtype=torch.float64, requires_grad=True)),
    ('wrapped nested rows', torch.arange(10, 46).reshape(1, 2, 18)),
    ('summarized 1-D', torch.arange(1001.0)),
    ('summarized 2-D', torch.arange(2000).reshape(40, 50)),
    ('summarized 3-D', (torch.arange(1200.0) - 600.0).reshape(10, 12, 10) / 8),
    ('int64 extremes', torch.tensor([2**63 - 1, -3])),
    ('zero-size bool', torch.zeros(0, dtype=torch.bool)),
    ('negative nan', torch.tensor([-nan], dtype=torch.float64)),
    ('expanded row', torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[1:2].expand(2, 3)),
    ('transposed', torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).t()),
    ('requires grad', torch.tensor(3.5, requires_grad=True)),
]

print('/* ---- printing (tests/ref_tensor.py) ---- */')
for name, t in CASES:
    print('/* %s */' % name)
    print('    %s,' % c_literal(nabla_repr(t)))


def splitmix64(x):
    x = (x + 0x9e3779b97f4a7c15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


def xoshiro_stream(seed, n):
    s, x = [], seed
    for _ in range(4):
        x, v = splitmix64(x)
        s.append(v)
    out = []
    for _ in range(n):
        out.append((rotl((s[1] * 5) & M64, 7) * 9) & M64)
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


print('/* ---- nb_generator_next, seed 1337 ---- */')
print(',\n'.join('    0x%016xULL' % v for v in xoshiro_stream(1337, 5)))
