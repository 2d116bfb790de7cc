#!/usr/bin/python3
"""Reference values for tests/test_rnn.c from PyTorch 1.13 (float64).

Run:  /usr/bin/python3 tests/ref_rnn.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_rnn.py output" and "END ref_rnn.py output" in tests/test_rnn.c.

Everything comes from closed formulas (j = row-major index within the tensor), so the C side
rebuilds the same inputs:
  parameter number k of named_parameters():  0.6*sin(0.37*j + 1.3*k + 0.2)
  input x, logical [B, T, I] (cells: [B, I]):  sin(0.7*j + 0.1), then transposed to [T, B, I]
                                               when not batch_first (j counts the [B, T, I] order)
  h0 [L, B, H] (cells [B, H]):  0.5*cos(0.9*j + 0.3);   c0:  0.8*sin(1.1*j + 0.5)
  loss = sum(out * gout) + sum(h_n * gh) + sum(c_n * gc), j over each tensor as returned:
      gout = cos(0.45*j + 0.2),  gh = 0.7*sin(0.6*j + 0.4),  gc = 0.9*cos(0.8*j + 0.1)
Printed per case: out, h_n, c_n (LSTM), grad of x (in the layout given), of h0, c0 (when given)
and of every parameter, concatenated in named_parameters() order.

The fused layer recurrence nb_lstm_recurrence(gx, w_hh, b_hh, h0, c0) is checked against
torch.nn.LSTMCell stepped over T (its input projection the identity: weight_ih = I [4H, 4H],
bias_ih = 0, so the cell's input is gx[t] itself):
  gx [T, B, 4H] = sin(0.7*j + 0.1);  w_hh [4H, H] = 0.6*sin(0.37*j + 1.5);  b_hh = 0.6*sin(0.37*j + 2.8)
  h0, c0 [B, H] as above (each given or zeros);  hc [T, B, 2H] = h_t, c_t side by side
  loss = sum(hc * cos(0.45*j + 0.2))
Printed per case: hc, the final h and c, grad of gx, w_hh, b_hh, h0, c0 (those given).
"""
import math

import torch

torch.set_default_dtype(torch.float64)
I, H, T, B, L = 3, 4, 5, 2, 2


def formula(shape, a, b, c, f=math.sin):
    n = math.prod(shape)
    return torch.tensor([a * f(b * j + c) for j in range(n)]).reshape(shape)


def fmt(t):
    return "{" + ", ".join(repr(float(v)) for v in t.detach().reshape(-1).tolist()) + "}"


def set_params(mod):
    with torch.no_grad():
        for k, (_, p) in enumerate(mod.named_parameters()):
            p.copy_(formula(p.shape, 0.6, 0.37, 1.3 * k + 0.2))


def loss_of(out, hn, cn):
    loss = (out * formula(out.shape, 1.0, 0.45, 0.2, math.cos)).sum()
    loss = loss + (hn * formula(hn.shape, 0.7, 0.6, 0.4)).sum()
    if cn is not None:
        loss = loss + (cn * formula(cn.shape, 0.9, 0.8, 0.1, math.cos)).sum()
    return loss


def emit(tag, vals):
    for name, t in vals:
        if t is None:
            print(f"#define ref_{tag}_{name} NULL")
        else:
            print(f"static const double ref_{tag}_{name}[{t.numel()}] = {fmt(t)};")


def pgrads(mod):
    return torch.cat([p.grad.reshape(-1) for p in mod.parameters()])


def module_case(kind, batch_first, bias, init):
    lstm = kind == "lstm"
    mod = (torch.nn.LSTM if lstm else torch.nn.GRU)(I, H, num_layers=L, bias=bias, batch_first=batch_first)
    set_params(mod)
    x = formula((B, T, I), 1.0, 0.7, 0.1)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    x.requires_grad_(True)
    h0 = formula((L, B, H), 0.5, 0.9, 0.3, math.cos).requires_grad_(True) if init else None
    c0 = formula((L, B, H), 0.8, 1.1, 0.5).requires_grad_(True) if init and lstm else None
    if lstm:
        out, (hn, cn) = mod(x, (h0, c0)) if init else mod(x)
    else:
        out, hn = mod(x, h0) if init else mod(x)
        cn = None
    loss_of(out, hn, cn).backward()
    tag = f"{kind}_bf{int(batch_first)}_b{int(bias)}_s{int(init)}"
    emit(tag, [("out", out), ("hn", hn), ("cn", cn), ("gx", x.grad), ("gh0", h0.grad if init else None),
               ("gc0", c0.grad if c0 is not None else None), ("gp", pgrads(mod))])
    return tag


def cell_case(kind, bias, init):
    lstm = kind == "lstm"
    mod = (torch.nn.LSTMCell if lstm else torch.nn.GRUCell)(I, H, bias=bias)
    set_params(mod)
    x = formula((B, I), 1.0, 0.7, 0.1).requires_grad_(True)
    h = formula((B, H), 0.5, 0.9, 0.3, math.cos).requires_grad_(True) if init else None
    c = formula((B, H), 0.8, 1.1, 0.5).requires_grad_(True) if init and lstm else None
    if lstm:
        hn, cn = mod(x, (h, c)) if init else mod(x)
    else:
        hn, cn = (mod(x, h) if init else mod(x)), None
    loss = (hn * formula(hn.shape, 0.7, 0.6, 0.4)).sum()
    if cn is not None:
        loss = loss + (cn * formula(cn.shape, 0.9, 0.8, 0.1, math.cos)).sum()
    loss.backward()
    tag = f"{kind}cell_b{int(bias)}_s{int(init)}"
    emit(tag, [("hn", hn), ("cn", cn), ("gx", x.grad), ("gh0", h.grad if init else None),
               ("gc0", c.grad if c is not None else None), ("gp", pgrads(mod))])
    return tag


def recurrence_case(bias, init_h, init_c):
    cell = torch.nn.LSTMCell(4 * H, H, bias=bias)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.eye(4 * H))
        cell.weight_hh.copy_(formula((4 * H, H), 0.6, 0.37, 1.5))
        if bias:
            cell.bias_ih.zero_()
            cell.bias_hh.copy_(formula((4 * H,), 0.6, 0.37, 2.8))
    gx = formula((T, B, 4 * H), 1.0, 0.7, 0.1).requires_grad_(True)
    h0 = formula((B, H), 0.5, 0.9, 0.3, math.cos).requires_grad_(True) if init_h else None
    c0 = formula((B, H), 0.8, 1.1, 0.5).requires_grad_(True) if init_c else None
    h = h0 if init_h else torch.zeros(B, H)
    c = c0 if init_c else torch.zeros(B, H)
    steps = []
    for t in range(T):
        h, c = cell(gx[t], (h, c))
        steps.append(torch.cat([h, c], dim=1))
    hc = torch.stack(steps)
    (hc * formula(hc.shape, 1.0, 0.45, 0.2, math.cos)).sum().backward()
    tag = f"rec_b{int(bias)}_h{int(init_h)}_c{int(init_c)}"
    emit(tag, [("hc", hc), ("hn", h), ("cn", c), ("ggx", gx.grad), ("gw", cell.weight_hh.grad),
               ("gb", cell.bias_hh.grad if bias else None), ("gh0", h0.grad if init_h else None),
               ("gc0", c0.grad if init_c else None)])
    return tag


def main():
    print(f"/* generated by tests/ref_rnn.py with torch {torch.__version__}; I {I}, H {H}, T {T}, B {B}, L {L} */")
    mods = [module_case(k, bf, bi, s) for k in ("lstm", "gru") for bf in (False, True)
            for bi in (True, False) for s in (False, True)]
    cells = [cell_case(k, bi, s) for k in ("lstm", "gru") for bi in (True, False) for s in (False, True)]
    print("/* kind (1 LSTM, 0 GRU), batch_first, bias, initial state, then the arrays */")
    print("static const rnn_ref ref_rnn_modules[] = {")
    for t in mods:
        k, bf, bi, s = t.split("_")
        print(f"    {{{int(k == 'lstm')}, {bf[2]}, {bi[1]}, {s[1]}, ref_{t}_out, ref_{t}_hn, ref_{t}_cn, "
              f"ref_{t}_gx, ref_{t}_gh0, ref_{t}_gc0, ref_{t}_gp}},")
    print("};")
    print("static const rnn_ref ref_rnn_cells[] = {")
    for t in cells:
        k, bi, s = t.split("_")
        print(f"    {{{int(k == 'lstmcell')}, 0, {bi[1]}, {s[1]}, NULL, ref_{t}_hn, ref_{t}_cn, "
              f"ref_{t}_gx, ref_{t}_gh0, ref_{t}_gc0, ref_{t}_gp}},")
    print("};")
    recs = [recurrence_case(bi, ih, ic) for bi, ih, ic in
            ((True, False, False), (True, True, True), (False, True, False), (False, False, True), (False, True, True))]
    print("/* nb_lstm_recurrence: bias, h0 given, c0 given, then the arrays */")
    print("static const rec_ref ref_lstm_recurrence[] = {")
    for t in recs:
        _, b, h, c = t.split("_")
        print(f"    {{{b[1]}, {h[1]}, {c[1]}, ref_{t}_hc, ref_{t}_hn, ref_{t}_cn, ref_{t}_ggx, ref_{t}_gw, "
              f"ref_{t}_gb, ref_{t}_gh0, ref_{t}_gc0}},")
    print("};")


main()
