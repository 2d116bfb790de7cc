#!/usr/bin/python3
"""Reference values for tests/test_cnn.c from PyTorch 1.13: the convolution and pooling modules
(torch.nn.Conv1d, Conv2d, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d), RMSNorm without weight,
and a small CNN trained on generated shape images.

Run:  /usr/bin/python3 tests/ref_cnn.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_cnn.py output" and "END ref_cnn.py output" in tests/test_cnn_ref.h.

Module cases. Inputs are closed formulas of the flat (row-major) index k, rebuilt by the C side:
fs(shape, a, b, c, d)[k] = a * sin(b * k + c) + d. A module's weights are PyTorch's own default
initialization after torch.manual_seed(case seed), printed as ref_<case>_p (float32 values, the
parameters in registration order, flattened); the C side loads them through the state dict. Each
case prints ref_<case>[2][L]: row 0 computed in float32, row 1 in float64 (the module converted
with .to(float64)); a row is the output, then the gradient of the input and of each parameter, with
the output's gradient dy = fs(out shape, 1, 0.37, 0.5, 0).

CNN. The images come from a splitmix64 generator that test_cnn.c implements identically (integer
state only; every pixel is an integer over 512, exact in float32): see image() below. The model
Conv2d(1, 8, 3, padding=1)-BatchNorm2d-ReLU-MaxPool2d(2)-Conv2d(8, 16, 3, padding=1)-BatchNorm2d-
ReLU-MaxPool2d(2)-Flatten-Linear(256, 4) is created after torch.manual_seed(0); its state dict is
printed (cnn_init, with the names, shapes and offsets in cnn_keys), then SGD (lr 0.05, momentum
0.9) trains it on batches 0..19 of 32 images from SplitMix64(1); the 20 losses are cnn_losses.
One thread, so the printed values do not depend on the machine's core count.
"""
import math
import warnings

import torch
import torch.nn as nn

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using padding='same'")  # even kernels: torch's own note
DTYPES = (torch.float32, torch.float64)


def fs(shape, a, b, c, d, dt):
    n = math.prod(shape)
    return torch.tensor([a * math.sin(b * k + c) + d for k in range(n)], dtype=torch.float64).to(dt).reshape(shape)


def fmt(vals):
    return "{" + ", ".join(repr(float(v)) for v in vals) + "}"


def fmt_lines(vals, per=8):
    """a C initializer of float values, `per` to a line"""
    vals = [repr(float(v)) for v in vals]
    lines = [", ".join(vals[i:i + per]) for i in range(0, len(vals), per)]
    return "{\n    " + ",\n    ".join(lines) + "}"


class RMSNorm(nn.Module):
    """torch.nn.RMSNorm(dim, eps, elementwise_affine=False) of torch >= 2.4, written in torch ops;
    eps None is torch.finfo(x.dtype).eps"""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class AvgPool1dDiv(nn.Module):
    """nabla's AvgPool1d with a divisor_override, which torch's AvgPool1d lacks: AvgPool2d with a
    (1, k) window over x.unsqueeze(-2), squeezed"""

    def __init__(self, k, stride, padding, divisor_override):
        super().__init__()
        self.pool = nn.AvgPool2d((1, k), stride=(1, stride), padding=(0, padding), divisor_override=divisor_override)

    def forward(self, x):
        return self.pool(x.unsqueeze(-2)).squeeze(-2)


def fwd_bwd(m, x):
    """output, then the gradients of x and of every parameter of m"""
    x = x.clone().requires_grad_(True)
    y = m(x)
    y.backward(fs(y.shape, 1, 0.37, 0.5, 0, y.dtype))
    row = y.detach().reshape(-1).tolist() + x.grad.reshape(-1).tolist()
    for p in m.parameters():
        row += p.grad.reshape(-1).tolist()
    return row


def case(name, comment, make, xshape, xf, seed):
    torch.manual_seed(seed)
    m0 = make()
    params = [v for p in m0.parameters() for v in p.detach().reshape(-1).tolist()]
    rows = []
    for dt in DTYPES:
        m = make().to(dt)
        m.load_state_dict(m0.state_dict())
        rows.append(fwd_bwd(m, fs(xshape, *xf, dt)))
    init = f"; torch.manual_seed({seed}) init" if params else ""
    grads = ", then the parameters' grads" if params else ""
    print(f"/* {comment}{init}; x {list(xshape)} fs{xf}: y, dx{grads} */")
    if params:
        print(f"static const float ref_{name}_p[{len(params)}] = {fmt(params)};")
    print(f"static const double ref_{name}[2][{len(rows[0])}] = {{")
    for r in rows:
        print(f"    {fmt(r)},")
    print("};")


def module_cases():
    X = (1.5, 0.7, 0.3, 0.1)
    case("conv1d", "nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)",
         lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9), X, 1)
    case("conv1d_same", "nn.Conv1d(3, 4, 4, padding='same', bias=False)",
         lambda: nn.Conv1d(3, 4, 4, padding="same", bias=False), (2, 3, 7), X, 2)
    case("conv1d_dil", "nn.Conv1d(2, 3, 2, dilation=3, padding=2)",
         lambda: nn.Conv1d(2, 3, 2, dilation=3, padding=2), (1, 2, 8), X, 3)
    case("conv2d", "nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))",
         lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (2, 3, 7, 6), X, 4)
    case("conv2d_same", "nn.Conv2d(4, 6, 3, groups=2, padding='same', dilation=2)",
         lambda: nn.Conv2d(4, 6, 3, groups=2, padding="same", dilation=2), (1, 4, 6, 5), X, 5)
    case("conv2d_unb", "nn.Conv2d(3, 2, 3, bias=False), unbatched input",
         lambda: nn.Conv2d(3, 2, 3, bias=False), (3, 5, 5), X, 6)
    case("mp1", "nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True)",
         lambda: nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 8), X, 0)
    case("mp2", "nn.MaxPool2d(2)", lambda: nn.MaxPool2d(2), (2, 2, 6, 5), X, 0)
    case("mp2_b", "nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2), ceil_mode=True)",
         lambda: nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2), ceil_mode=True),
         (1, 2, 7, 6), X, 0)
    case("ap1", "nn.AvgPool1d(3, stride=2, padding=1)", lambda: nn.AvgPool1d(3, stride=2, padding=1),
         (2, 3, 8), X, 0)
    case("ap2", "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)",
         lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 7), X, 0)
    case("ap2_b", "nn.AvgPool2d((2, 3), padding=(1, 1)), unbatched input",
         lambda: nn.AvgPool2d((2, 3), padding=(1, 1)), (3, 5, 4), X, 0)
    # divisor_override (issue #15)
    case("ap2_div", "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=5)",
         lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=5),
         (2, 2, 6, 7), X, 0)
    case("ap2_div_b", "nn.AvgPool2d((2, 3), padding=(1, 1), divisor_override=4), unbatched input",
         lambda: nn.AvgPool2d((2, 3), padding=(1, 1), divisor_override=4), (3, 5, 4), X, 0)
    case("ap1_div", "AvgPool1dDiv(3, stride=2, padding=1, divisor_override=2) (torch's AvgPool1d has none)",
         lambda: AvgPool1dDiv(3, 2, 1, 2), (2, 3, 8), X, 0)
    case("aap1", "nn.AdaptiveAvgPool2d(1)", lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4), X, 0)
    case("aap32", "nn.AdaptiveAvgPool2d((3, 2))", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5), X, 0)
    case("aap_none", "nn.AdaptiveAvgPool2d((4, None))", lambda: nn.AdaptiveAvgPool2d((4, None)), (1, 2, 6, 3), X, 0)
    case("aap_div", "nn.AdaptiveAvgPool2d((2, 5)), unbatched input", lambda: nn.AdaptiveAvgPool2d((2, 5)),
         (2, 6, 5), X, 0)
    case("rms_noaff", "RMSNorm(6, eps=1e-6, elementwise_affine=False)", lambda: RMSNorm(6, 1e-6), (2, 3, 6),
         (2, 0.7, 0.3, 0.1), 0)
    case("rms_noeps", "RMSNorm(5, eps=None, elementwise_affine=False)", lambda: RMSNorm(5, None), (3, 5),
         (0.001, 0.9, 0.2, 0.0005), 0)


# ---- the shape-image task ------------------------------------------------------------------------
M64 = (1 << 64) - 1
S = 16  # image side


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def image(r):
    """(label, 256 pixels): label 0 square outline, 1 cross, 2 circle outline, 3 horizontal bar, at
    a random place and size; pixel = (2 * fg * on + noise byte - 128) / 512, fg in [160, 256)"""
    label = r.below(4)
    fg = 160 + r.below(96)
    on = [[0] * S for _ in range(S)]
    if label == 0:
        s = 5 + r.below(8)
        x0, y0 = r.below(S - s + 1), r.below(S - s + 1)
        for i in range(s):
            on[y0][x0 + i] = on[y0 + s - 1][x0 + i] = on[y0 + i][x0] = on[y0 + i][x0 + s - 1] = 1
    elif label == 1:
        a = 2 + r.below(4)
        cx, cy = a + r.below(S - 2 * a), a + r.below(S - 2 * a)
        for d in range(-a, a + 1):
            on[cy][cx + d] = on[cy + d][cx] = 1
    elif label == 2:
        rr = 3 + r.below(4)
        cx, cy = rr + r.below(S - 2 * rr), rr + r.below(S - 2 * rr)
        for y in range(S):
            for x in range(S):
                q = 4 * ((x - cx) ** 2 + (y - cy) ** 2)
                on[y][x] = int((2 * rr - 1) ** 2 <= q <= (2 * rr + 1) ** 2)
    else:
        n, t = 6 + r.below(9), 1 + r.below(2)
        x0, y0 = r.below(S - n + 1), r.below(S - t + 1)
        for y in range(y0, y0 + t):
            for x in range(x0, x0 + n):
                on[y][x] = 1
    pix = []
    for i in range(S * S // 8):  # 8 noise bytes per draw, low byte first
        z = r.next()
        for j in range(8):
            k = i * 8 + j
            pix.append((2 * fg * on[k // S][k % S] + ((z >> (8 * j)) & 255) - 128) / 512.0)
    return label, pix


def batch(r, n):
    labels, pix = [], []
    for _ in range(n):
        lab, p = image(r)
        labels.append(lab)
        pix += p
    return torch.tensor(pix, dtype=torch.float32).reshape(n, 1, S, S), torch.tensor(labels)


def cnn_case():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(256, 4))
    sd = m.state_dict()
    vals, keys, off = [], [], 0
    for k, v in sd.items():
        if v.dtype == torch.int64:  # num_batches_tracked: 0, rebuilt by the C side
            assert v.item() == 0
            continue
        keys.append(f'    {{"{k}", {v.dim()}, {{{", ".join(map(str, v.shape))}}}, {off}}},')
        vals += v.reshape(-1).tolist()
        off += v.numel()
    # a fingerprint of the generator: the labels and pixel sums of batch 0's first images
    r = SplitMix64(1)
    x0, y0 = batch(r, 32)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    r = SplitMix64(1)
    losses = []
    for _ in range(20):
        x, y = batch(r, 32)
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print("/* the CNN's state dict after torch.manual_seed(0) (float entries; name, ndim, shape, offset) */")
    print(f"static const struct cnn_key {{ const char *name; int ndim; int64_t shape[4]; int64_t off; }} "
          f"cnn_keys[{len(keys)}] = {{")
    print("\n".join(keys))
    print("};")
    print(f"static const float cnn_init[{len(vals)}] = {fmt_lines(vals)};")
    print("/* SplitMix64(1)'s first batch of 32 images: the labels and each image's pixel sum */")
    print(f"static const int cnn_batch0_labels[32] = {{{', '.join(str(int(v)) for v in y0)}}};")
    print(f"static const double cnn_batch0_sums[32] = {fmt(x0.double().sum((1, 2, 3)).tolist())};")
    print("/* SGD(lr 0.05, momentum 0.9) cross-entropy losses on batches 0..19 of 32 images from SplitMix64(1) */")
    print(f"static const double cnn_losses[20] = {fmt(losses)};")


if __name__ == "__main__":
    module_cases()
    cnn_case()
