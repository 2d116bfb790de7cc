#!/usr/bin/python3
"""Reference values for tests/test_optim.c and tests/test_optim_sched.c from PyTorch 1.13
(float64).

Run:  /usr/bin/python3 tests/ref_optim.py > /tmp/ref.h   and paste the output into the block
between "BEGIN ref_optim.py output" and "END ref_optim.py output" in tests/ref_optim.h.

Both sides compute the same deterministic problem:
  parameters  p0 [2, 3], p1 [4], p2 [2]; p_i[j] = sin(0.7*j + 1.1*i + 0.3)
  gradients   at step t (0-based): g_i[j] = cos(0.37*t + 0.91*j + 1.7*i) * (0.5 + 0.1*t) + 0.3*p_i[j]
              p0 has a gradient at every step, p1 only when t % 3 != 2 (else grad = None), p2
              only from t = 10 on (so per-parameter step counts differ)
Each optimizer runs 25 steps; after each step the 12 parameter values are recorded.
Schedulers drive an SGD optimizer with two groups (lr 0.1 and 0.02); the lrs are recorded after
construction and after each of 30 steps.
"""
import math

import torch

torch.set_default_dtype(torch.float64)

SHAPES = [(2, 3), (4,), (2,)]
STEPS = 25
SCHED_STEPS = 30


def make_params():
    ps = []
    for i, sh in enumerate(SHAPES):
        n = math.prod(sh)
        vals = [math.sin(0.7 * j + 1.1 * i + 0.3) for j in range(n)]
        ps.append(torch.tensor(vals, dtype=torch.float64).reshape(sh).requires_grad_(True))
    return ps


def has_grad(t, i):
    return i == 0 or (i == 1 and t % 3 != 2) or (i == 2 and t >= 10)


def set_grads(ps, t):
    for i, p in enumerate(ps):
        if not has_grad(t, i):
            p.grad = None
            continue
        flat = p.detach().reshape(-1).tolist()
        g = [math.cos(0.37 * t + 0.91 * j + 1.7 * i) * (0.5 + 0.1 * t) + 0.3 * flat[j]
             for j in range(len(flat))]
        p.grad = torch.tensor(g, dtype=torch.float64).reshape(p.shape)


def flat_params(ps):
    out = []
    for p in ps:
        out += p.detach().reshape(-1).tolist()
    return out


def run(make_opt, clip=None, make_sched=None):
    ps = make_params()
    opt = make_opt(ps)
    sched = make_sched(opt) if make_sched else None
    rows, norms, lrs = [], [], []
    for t in range(STEPS):
        set_grads(ps, t)
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(ps, clip)))
        lrs.append([g['lr'] for g in opt.param_groups])
        opt.step()
        rows.append(flat_params(ps))
        if sched:
            sched.step()
    return rows, norms, lrs


def groups(ps, lr0, wd0, lr1, wd1):
    return [{'params': [ps[0]], 'lr': lr0, 'weight_decay': wd0},
            {'params': [ps[1], ps[2]], 'lr': lr1, 'weight_decay': wd1}]


def nanogpt_sched(opt):
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-3)
    return torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])


O = torch.optim
OPTIMIZERS = [
    ('sgd_plain', lambda ps: O.SGD(ps, lr=0.1, foreach=False), None, None),
    ('sgd_momentum', lambda ps: O.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, foreach=False), None, None),
    ('sgd_nesterov', lambda ps: O.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01,
                                      foreach=False), None, None),
    ('sgd_wd', lambda ps: O.SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.05, foreach=False), None, None),
    ('sgd_maximize', lambda ps: O.SGD(ps, lr=0.02, momentum=0.3, maximize=True, foreach=False), None, None),
    ('adam', lambda ps: O.Adam(ps, lr=0.01, foreach=False), None, None),
    ('adam_wd', lambda ps: O.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, foreach=False), None, None),
    ('adam_amsgrad', lambda ps: O.Adam(ps, lr=0.02, eps=1e-6, amsgrad=True, foreach=False), None, None),
    ('adam_maximize', lambda ps: O.Adam(ps, lr=0.01, maximize=True, foreach=False), None, None),
    ('adamw', lambda ps: O.AdamW(ps, lr=0.01, weight_decay=0.1, foreach=False), None, None),
    ('adamw_amsgrad', lambda ps: O.AdamW(ps, lr=0.01, amsgrad=True, foreach=False), None, None),
    ('adamw_groups', lambda ps: O.AdamW(groups(ps, 0.01, 0.1, 0.003, 0.0), foreach=False), None, None),
    ('sgd_groups', lambda ps: O.SGD(groups(ps, 0.1, 0.0, 0.03, 0.2), momentum=0.9, foreach=False), None, None),
    ('sgd_clip', lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, foreach=False), 2.0, None),
    ('nanogpt', lambda ps: O.AdamW(groups(ps, 0.01, 0.1, 0.01, 0.0), betas=(0.9, 0.99), foreach=False),
     1.0, nanogpt_sched),
]


def sched_opt():
    ps = make_params()
    return O.SGD([{'params': [ps[0]], 'lr': 0.1}, {'params': [ps[1]], 'lr': 0.02}], lr=0.1)


def lam(e):
    return 1.0 / (1.0 + 0.1 * e)


S = torch.optim.lr_scheduler
SCHEDULERS = [
    ('multistep', lambda o: S.MultiStepLR(o, milestones=[5, 10, 15, 20, 25], gamma=0.5)),
    ('step', lambda o: S.StepLR(o, step_size=7, gamma=0.3)),
    ('exponential', lambda o: S.ExponentialLR(o, gamma=0.9)),
    ('cosine', lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    ('linear', lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8)),
    ('linear_decay', lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=10)),
    ('constant', lambda o: S.ConstantLR(o, factor=0.5, total_iters=4)),
    ('lambda', lambda o: S.LambdaLR(o, lam)),
    ('seq_warmup_cosine', lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                                       S.CosineAnnealingLR(o, T_max=25, eta_min=0.005)],
                                                   milestones=[5])),
    ('seq_three', lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=2),
                                               S.ExponentialLR(o, gamma=0.8),
                                               S.StepLR(o, step_size=4, gamma=0.5)],
                                           milestones=[3, 12])),
]


def fmt(x):
    return repr(float(x))


def emit(name, rows):
    width = len(rows[0])
    per_line = max(1, 12 // width)  # short rows (lr pairs) share a line
    print(f'static const double ref_{name}[{len(rows)}][{width}] = {{')
    for k in range(0, len(rows), per_line):
        print('    ' + ' '.join('{' + ', '.join(fmt(v) for v in r) + '},' for r in rows[k:k + per_line]))
    print('};')


def main():
    import warnings
    warnings.simplefilter('ignore')
    print(f'/* generated by tests/ref_optim.py with torch {torch.__version__} */')
    for name, make_opt, clip, make_sched in OPTIMIZERS:
        rows, norms, lrs = run(make_opt, clip, make_sched)
        emit(name, rows)
        if clip is not None:
            print(f'static const double ref_{name}_norms[{len(norms)}] = {{' +
                  ', '.join(fmt(v) for v in norms) + '};')
        if make_sched:
            emit(name + '_lrs', lrs)
    for name, make in SCHEDULERS:
        opt = sched_opt()
        s = make(opt)
        rows = [s.get_last_lr()]
        for _ in range(SCHED_STEPS):
            opt.step()
            s.step()
            rows.append(s.get_last_lr())
        emit('lr_' + name, rows)


if __name__ == '__main__':
    main()
