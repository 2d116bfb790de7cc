#!/usr/bin/python3
"""Reference values for tests/test_modules_more.c from PyTorch 1.13's torch.nn modules, in float32
and float64.

Run:  /usr/bin/python3 tests/ref_modules.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_modules.py output" and "END ref_modules.py output" in
tests/test_modules_more.c.

Every input and weight is a closed formula of the flat (row-major) index k, so the C side rebuilds
it:  fs(shape, a, b, c, d)[k] = a * sin(b * k + c) + d. Each case prints ref_<case>[2][L]: row 0
computed in float32, row 1 in float64 (the module converted with .to(dtype), as nabla's
nb_module_to_dtype); a row is the output, then the gradient of the input and of each parameter
(in registration order), flattened, with the output's gradient dy = fs(out shape, 1, 0.37, 0.5, 0).
RMSNorm is not in torch 1.13: its reference is torch.nn.RMSNorm's formula written in torch ops.
"""
import math

import torch
import torch.nn as nn

DTYPES = (torch.float32, torch.float64)


def fs(shape, a, b, c, d, dt):
    n = math.prod(shape)
    return torch.tensor([a * math.sin(b * k + c) + d for k in range(n)], dtype=torch.float64).to(dt).reshape(shape)


def dy_like(t):
    return fs(t.shape, 1, 0.37, 0.5, 0, t.dtype)


def fmt(vals):
    return "{" + ", ".join(repr(float(v)) for v in vals) + "}"


def emit(name, comment, rows):
    print(f"/* {comment} */")
    print(f"static const double ref_{name}[2][{len(rows[0])}] = {{")
    for r in rows:
        print(f"    {fmt(r)},")
    print("};")


def set_params(m, dt, formulas):
    """weight/bias of m from fs formulas (a dict name -> (a, b, c, d))"""
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(fs(p.shape, *formulas[name], dt))


def fwd_bwd(m, x):
    """output, then the gradients of x and of every parameter of m; grads cleared after"""
    x = x.clone().requires_grad_(True)
    y = m(x)
    y.backward(dy_like(y))
    row = y.detach().reshape(-1).tolist() + x.grad.reshape(-1).tolist()
    for p in m.parameters():
        row += p.grad.reshape(-1).tolist()
    m.zero_grad(set_to_none=True)
    return row


X_ACT = ((3, 5), 2.5, 0.7, 0.3, 0.1)  # x for the activations: fs((3, 5), 2.5, 0.7, 0.3, 0.1)


def act_case(name, comment, make, xspec=X_ACT):
    rows = []
    for dt in DTYPES:
        m = make().to(dt)
        rows.append(fwd_bwd(m, fs(xspec[0], *xspec[1:], dt)))
    emit(name, comment + f": y, dx; x [{', '.join(map(str, xspec[0]))}] fs{tuple(xspec[1:])}", rows)


class RMSNorm(nn.Module):
    """torch.nn.RMSNorm(dim, eps, elementwise_affine) of torch >= 2.4, written in torch ops"""

    def __init__(self, dim, eps, affine=True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return y * self.weight if self.weight is not None else y


W = (0.3, 1.9, 0, 1)  # weight formula of the norms
B = (0.4, 1.1, 0.5, 0)  # bias formula


def norm_case(name, comment, make, xshape, xf):
    rows = []
    for dt in DTYPES:
        m = make().to(dt)
        set_params(m, dt, {"weight": W, "bias": B})
        rows.append(fwd_bwd(m, fs(xshape, *xf, dt)))
    emit(name, f"{comment}, weight fs{W}, bias fs{B}; x {list(xshape)} fs{xf}: y, dx, then dweight, dbias when affine", rows)


def bn_case(name, comment, make, xshape):
    """train on x1 (with backward) and x2, then eval on x3 (with backward); the buffers after each
    training forward"""
    xf = [(1.7, 0.43, 0.3, 0.2), (1.1, 0.61, 1.0, -0.4), (1.3, 0.29, 0.7, 0.5)]
    rows = []
    for dt in DTYPES:
        m = make().to(dt)
        set_params(m, dt, {"weight": W, "bias": B})
        m.train()
        row = fwd_bwd(m, fs(xshape, *xf[0], dt))
        if m.track_running_stats:
            row += m.running_mean.tolist() + m.running_var.tolist() + [float(m.num_batches_tracked)]
        with torch.no_grad():
            row += m(fs(xshape, *xf[1], dt)).reshape(-1).tolist()
        if m.track_running_stats:
            row += m.running_mean.tolist() + m.running_var.tolist() + [float(m.num_batches_tracked)]
        m.eval()
        row += fwd_bwd(m, fs(xshape, *xf[2], dt))
        rows.append(row)
    emit(name, f"{comment}, weight fs{W}, bias fs{B}; x {list(xshape)}: train on fs{xf[0]} (y, dx, then dweight, "
         f"dbias when affine; running_mean, running_var, num_batches_tracked when tracked), train on "
         f"fs{xf[1]} (y; the buffers), eval "
         f"on fs{xf[2]} (y, dx, dweight, dbias)", rows)


def state_dict_names():
    """state_dict keys and named_parameters names of a Sequential of the norm modules"""
    m = nn.Sequential(nn.BatchNorm1d(3), nn.BatchNorm2d(2, affine=False), nn.BatchNorm1d(4, track_running_stats=False),
                      nn.GroupNorm(2, 4), nn.GroupNorm(1, 2, affine=False), nn.SiLU(), nn.Flatten())
    for what, names in (("sd_keys", list(m.state_dict().keys())), ("param_names", [n for n, _ in m.named_parameters()])):
        print(f"static const char *const ref_{what}[{len(names)}] = {{")
        for n in names:
            print(f'    "{n}",')
        print("};")


def main():
    print(f"/* generated by tests/ref_modules.py with torch {torch.__version__} */")
    act_case("silu", "nn.SiLU()", nn.SiLU)
    act_case("sigmoid", "nn.Sigmoid()", nn.Sigmoid)
    act_case("softplus", "nn.Softplus()", nn.Softplus)
    act_case("softplus_b", "nn.Softplus(beta=2, threshold=1.5)", lambda: nn.Softplus(beta=2, threshold=1.5))
    act_case("leaky", "nn.LeakyReLU()", nn.LeakyReLU)
    act_case("leaky_b", "nn.LeakyReLU(0.2) with zeros in x", lambda: nn.LeakyReLU(0.2), ((2, 6), 2, math.pi / 2, 0, 0))
    act_case("identity", "nn.Identity()", nn.Identity)
    act_case("flatten", "nn.Flatten()", nn.Flatten, ((2, 3, 2, 2), 1.5, 0.3, 0, 0.2))
    act_case("flatten_b", "nn.Flatten(0, 1)", lambda: nn.Flatten(0, 1), ((2, 3, 2, 2), 1.5, 0.3, 0, 0.2))
    act_case("log_softmax", "nn.LogSoftmax(dim=1)", lambda: nn.LogSoftmax(dim=1))
    act_case("log_softmax_b", "nn.LogSoftmax(dim=0)", lambda: nn.LogSoftmax(dim=0))
    act_case("gelu", "nn.GELU()", nn.GELU)
    act_case("gelu_tanh", "nn.GELU(approximate='tanh')", lambda: nn.GELU(approximate="tanh"))
    act_case("relu", "nn.ReLU()", nn.ReLU)
    act_case("tanh", "nn.Tanh()", nn.Tanh)
    act_case("softmax", "nn.Softmax(dim=-1)", lambda: nn.Softmax(dim=-1))
    act_case("dropout_eval", "nn.Dropout(0.5).eval()", lambda: nn.Dropout(0.5).eval())
    norm_case("rms", "RMSNorm(6, eps=1e-6)", lambda: RMSNorm(6, 1e-6), (2, 3, 6), (2, 0.7, 0.3, 0.1))
    norm_case("gn", "nn.GroupNorm(3, 6)", lambda: nn.GroupNorm(3, 6), (2, 6, 4), (2, 0.29, 0, 0.3))
    norm_case("gn_b", "nn.GroupNorm(2, 4, eps=1e-3, affine=False)", lambda: nn.GroupNorm(2, 4, eps=1e-3, affine=False),
              (3, 4, 2, 2), (1, 0.61, 0.2, 0))
    bn_case("bn1d", "nn.BatchNorm1d(3)", lambda: nn.BatchNorm1d(3), (6, 3))
    bn_case("bn1d_l", "nn.BatchNorm1d(3, eps=1e-3, momentum=0.3)", lambda: nn.BatchNorm1d(3, eps=1e-3, momentum=0.3),
            (4, 3, 5))
    bn_case("bn2d", "nn.BatchNorm2d(3)", lambda: nn.BatchNorm2d(3), (4, 3, 2, 3))
    bn_case("bn_cma", "nn.BatchNorm1d(3, momentum=None)", lambda: nn.BatchNorm1d(3, momentum=None), (4, 3, 5))
    bn_case("bn_noaffine", "nn.BatchNorm2d(3, affine=False)", lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 2, 2))
    bn_case("bn_untracked", "nn.BatchNorm1d(3, track_running_stats=False)",
            lambda: nn.BatchNorm1d(3, track_running_stats=False), (4, 3, 5))
    state_dict_names()


if __name__ == "__main__":
    main()
